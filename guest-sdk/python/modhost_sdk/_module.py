"""The module an author writes, and the exports componentize-py calls."""

import json
import traceback

from componentize_py_types import Err
from wit_world.imports import types

from . import log
from ._errors import HttpError
from ._http import Request, Response
from ._router import Router


class Health:
    """A health status (``healthy``, ``degraded``, ``unhealthy``) and details."""

    def __init__(self, status="healthy", **details):
        self.status = status
        self.details = details


class Module:
    """What a module says about itself; subclass it and set the names."""

    NAME = ""
    VERSION = "0.1.0"
    DESCRIPTION = ""
    DEPENDENCIES = []
    ROUTES = Router()

    def init(self):
        """Called once after the dependencies are up; raise to refuse to start."""

    def health(self):
        """The module's health; healthy by default."""
        return Health()


_STATUSES = {
    "healthy": types.HealthStatus.HEALTHY,
    "degraded": types.HealthStatus.DEGRADED,
    "unhealthy": types.HealthStatus.UNHEALTHY,
}


def _error_response(status, message, request_id):
    return Response.json({"error": message, "request_id": request_id}, status)


def export(module_class):
    """The ``WitWorld`` class for ``module_class``: assign it to a
    module-level name ``WitWorld`` in the app componentize-py builds."""
    module = module_class()

    class WitWorld:
        def describe(self):
            return types.Manifest(
                module.NAME,
                module.VERSION,
                module.DESCRIPTION,
                list(module.DEPENDENCIES),
                module.ROUTES.declared(),
            )

        def init(self):
            try:
                module.init()
            except Exception as err:
                raise Err(str(err)) from None

        def handle(self, request):
            handler = module.ROUTES.handler(request.method, request.route)
            try:
                if handler is None:
                    raise HttpError.not_found(
                        f"module {module.NAME} has no handler for {request.method} {request.route}"
                    )
                response = handler(Request(request))
            except HttpError as err:
                response = _error_response(err.status, err.message, request.request_id)
            except Exception:
                log.error("handler raised", traceback=traceback.format_exc())
                response = _error_response(500, "the module failed", request.request_id)
            return response.to_wit()

        def health(self):
            health = module.health()
            return types.Health(_STATUSES[health.status], json.dumps(health.details))

    return WitWorld
