"""The host's clock and when the module was initialised, in seconds since
the Unix epoch (floats)."""

from wit_world.imports import clock as _clock
from wit_world.imports import lifecycle as _lifecycle


def _seconds(instant):
    return instant.seconds + instant.nanoseconds / 1e9


def now():
    """The host's wall clock."""
    return _seconds(_clock.now())


def initialized_at():
    """When ``init`` finished, or None before."""
    instant = _lifecycle.initialized_at()
    return None if instant is None else _seconds(instant)
