"""Routes a module declares and the handlers that serve them. The host
matches paths (``:param`` segments, a ``...`` tail); the module looks up
the handler of the route the host matched."""

from wit_world.imports import types


class Router:
    """The module's routes, each with its handler."""

    def __init__(self):
        self._routes = []
        self._handlers = {}

    def route(self, method, path, roles=None):
        """Decorates a handler of ``method`` on ``path``. ``roles`` (a list,
        possibly empty) makes the host require a valid bearer token with
        one of them (any token when empty) before the module is called."""

        def register(handler):
            auth = None if roles is None else types.RouteAuth(list(roles))
            self._routes.append(types.Route(method, path, auth))
            self._handlers[(method, path)] = handler
            return handler

        return register

    def get(self, path, roles=None):
        """A ``GET`` route."""
        return self.route("GET", path, roles)

    def post(self, path, roles=None):
        """A ``POST`` route."""
        return self.route("POST", path, roles)

    def put(self, path, roles=None):
        """A ``PUT`` route."""
        return self.route("PUT", path, roles)

    def delete(self, path, roles=None):
        """A ``DELETE`` route."""
        return self.route("DELETE", path, roles)

    def declared(self):
        """The routes, as the manifest lists them."""
        return list(self._routes)

    def handler(self, method, route):
        """The handler of ``method`` on the matched ``route``, if any."""
        return self._handlers.get((method, route))
