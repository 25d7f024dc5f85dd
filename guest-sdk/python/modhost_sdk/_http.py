"""Requests as a handler sees them, and the responses it returns."""

import json as _json

from wit_world.imports import types

from ._errors import HttpError


class Request:
    """One request routed to the module: method, path below the tenant's
    prefix, the matched route and its params, query, headers, body, and
    the principal of a valid bearer token on routes that need one."""

    def __init__(self, wit):
        self._wit = wit
        self.id = wit.request_id
        self.method = wit.method
        self.path = wit.path
        self.prefix = wit.prefix
        self.route = wit.route
        self.params = dict(wit.params)
        self.query = dict(wit.query)
        self.headers = {name.lower(): value for name, value in wit.headers}
        self.body = wit.body
        self.principal = wit.principal

    def param(self, name):
        """The value of the route's ``:name`` segment."""
        try:
            return self.params[name]
        except KeyError:
            raise HttpError(500, f"route {self.route} has no parameter {name}") from None

    def query_number(self, name, default):
        """The query's ``name`` as a non-negative int, or ``default``."""
        value = self.query.get(name)
        if value is None:
            return default
        if not value.isdigit():
            raise HttpError.bad_request(f"query parameter {name} must be a non-negative integer")
        return int(value)

    def json(self):
        """The body parsed as JSON; a 400 when it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as err:
            raise HttpError.bad_request(f"the body is not JSON: {err}") from None

    def subject(self):
        """The token's subject; a 401 on a route without a token."""
        if self.principal is None:
            raise HttpError(401, "this route needs a bearer token")
        return self.principal.subject


class Response:
    """A status, headers and a body."""

    def __init__(self, status=200, body=b"", headers=None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.headers = list(headers or [])

    @staticmethod
    def json(value, status=200):
        """``value`` as a JSON body."""
        body = _json.dumps(value, separators=(",", ":"))
        return Response(status, body, [("content-type", "application/json")])

    @staticmethod
    def text(text, status=200):
        """``text`` as a plain-text body."""
        return Response(status, text, [("content-type", "text/plain; charset=utf-8")])

    def with_header(self, name, value):
        """This response with one more header."""
        self.headers.append((name, value))
        return self

    def to_wit(self):
        """The WIT record the host reads."""
        return types.Response(self.status, self.headers, self.body)
