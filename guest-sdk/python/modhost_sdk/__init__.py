"""modhost's SDK for Python modules, built with componentize-py.

A module is a class with a name, a version, its dependencies and a router;
``export`` turns it into the ``WitWorld`` class componentize-py looks for::

    from modhost_sdk import Module, Router, Response, export, db

    router = Router()
    ITEMS = db.Collection("items")

    @router.get("/items/:id")
    def get_item(request):
        return Response.json(ITEMS.find_one({"_id": request.param("id")}))

    class Items(Module):
        NAME = "items"
        VERSION = "0.1.0"
        ROUTES = router

    WitWorld = export(Items)

Host errors (a database that is down, a duplicate key...) raise ``HttpError``
with the status the Rust SDK gives them; a handler that raises one answers
``{"error": ..., "request_id": ...}`` with that status. Any other exception
is logged with its traceback and answers 500.
"""

from ._errors import HttpError
from ._http import Request, Response
from ._module import Health, Module, export
from ._router import Router
from . import auth, cache, config, db, log, metrics, modules, time

__all__ = [
    "HttpError",
    "Request",
    "Response",
    "Health",
    "Module",
    "export",
    "Router",
    "auth",
    "cache",
    "config",
    "db",
    "log",
    "metrics",
    "modules",
    "time",
]
