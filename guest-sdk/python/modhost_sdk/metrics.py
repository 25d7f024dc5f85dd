"""The module's own metrics (the original guide's ``module_metrics``),
exposed by the host on ``/metrics`` as ``modhost_module_<name>`` with the
module's ``tenant`` and ``module`` labels; counters get ``_total``, timings
``_seconds``. A refused call (a bad name, too many series) raises
``HttpError`` (500)::

    with metrics.timer("order_processing"):
        process()
    metrics.increment("orders", kind="book")
"""

import time as _clock
from contextlib import contextmanager

from wit_world.imports import metrics as _metrics

from ._errors import host_call


def _labels(labels):
    return [(str(key), str(value)) for key, value in labels.items()]


def increment(name, by=1, **labels):
    """Adds ``by`` to counter ``name``."""
    host_call({}, _metrics.increment, name, by, _labels(labels))


def gauge(name, value, **labels):
    """Sets gauge ``name`` to ``value``."""
    host_call({}, _metrics.set_gauge, name, float(value), _labels(labels))


def record_duration(name, seconds, **labels):
    """Records ``seconds`` into timing ``name``."""
    host_call({}, _metrics.record_duration, name, float(seconds), _labels(labels))


@contextmanager
def timer(name, **labels):
    """Times the ``with`` block into timing ``name``, also when it raises."""
    started = _clock.monotonic()
    try:
        yield
    finally:
        record_duration(name, _clock.monotonic() - started, **labels)
