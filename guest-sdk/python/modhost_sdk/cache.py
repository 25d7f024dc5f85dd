"""The module's own cache keys (the ``cache`` grant), Redis-style."""

from wit_world.imports import cache as _cache

from ._errors import host_call

_STATUSES = {"Unavailable": 503, "QuotaExceeded": 429, "ValueTooLarge": 413}


def get(key):
    """The bytes under ``key``, or None."""
    return host_call(_STATUSES, _cache.get, key)


def set(key, value, ttl_ms=None):
    """Stores ``value`` (bytes or str) under ``key``, for ``ttl_ms`` if given."""
    value = value.encode() if isinstance(value, str) else bytes(value)
    host_call(_STATUSES, _cache.set, key, value, ttl_ms)


def delete(key):
    """Removes ``key``; whether it was there."""
    return host_call(_STATUSES, _cache.delete, key)


def incr(key, delta=1):
    """Adds ``delta`` to the integer under ``key``; the new value."""
    return host_call(_STATUSES, _cache.incr, key, delta)
