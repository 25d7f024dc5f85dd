"""{{name}}: made by `modhost new`. ``GET {{route}}`` answers a greeting with
the request's id and logs a line. Add routes to ``router``, build with
``just guests``, and see the README's "Writing a module"."""

from modhost_sdk import Module, Response, Router, export, log

router = Router()


@router.get("{{route}}")
def hello(request):
    log.info("saying hello")
    return Response.json({"module": "{{name}}", "message": "hello", "request_id": request.id})


class ThisModule(Module):
    NAME = "{{name}}"
    VERSION = "0.1.0"
    DESCRIPTION = "{{description}}"
    ROUTES = router


WitWorld = export(ThisModule)
