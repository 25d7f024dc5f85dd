"""Log records into the host's log, tagged with the module and request."""

from wit_world.imports import log as _log


def _write(level, message, fields):
    _log.log(level, str(message), [(str(k), str(v)) for k, v in fields.items()])


def debug(message, **fields):
    """A debug record with ``fields``."""
    _write(_log.Level.DEBUG, message, fields)


def info(message, **fields):
    """An info record with ``fields``."""
    _write(_log.Level.INFO, message, fields)


def warn(message, **fields):
    """A warning with ``fields``."""
    _write(_log.Level.WARN, message, fields)


def error(message, **fields):
    """An error record with ``fields``."""
    _write(_log.Level.ERROR, message, fields)
