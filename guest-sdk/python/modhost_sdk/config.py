"""The module's own ``[modules.<name>.config]`` table."""

import json

from wit_world.imports import config as _config


def get(key, default=None):
    """The value under ``key`` (a str, int, float, bool, list or dict, as
    the TOML has it; datetimes as RFC 3339 text), or ``default``."""
    value = _config.get(key)
    return default if value is None else json.loads(value)


def get_all():
    """The whole table as a dict."""
    return json.loads(_config.get_all())
