"""Errors a handler raises, and host errors turned into them."""

import componentize_py_types


class HttpError(Exception):
    """An error that answers the request with ``status`` and ``message``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    @staticmethod
    def bad_request(message):
        """A 400."""
        return HttpError(400, message)

    @staticmethod
    def not_found(message):
        """A 404."""
        return HttpError(404, message)


def host_call(statuses, function, *args):
    """Calls the host ``function``; its error value raises ``HttpError``
    with the status ``statuses`` gives the variant's name (500 if none)."""
    try:
        return function(*args)
    except componentize_py_types.Err as err:
        variant = type(err.value).__name__.split("_", 1)[-1]
        raise HttpError(statuses.get(variant, 500), str(err.value.value)) from None
