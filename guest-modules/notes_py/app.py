"""notes_py: a module written in Python with modhost's Python SDK.

- ``GET /notes-py/hello``: a fixed answer (the benchmark's trivial route).
- ``POST /notes-py/notes``: stores ``{"text": ...}`` in the module's own
  collection, logs it and counts it (``modhost_module_notes_stored_total``
  on the host's ``/metrics``); answers the note with its ``_id`` (201). A note
  is at most ``longest_note`` characters (config; 10,000 by default).
- ``GET /notes-py/notes/:id``: one note, or 404.
- ``GET /notes-py/notes``: the latest notes, ``?limit=`` (at most 100).
- ``POST /notes-py/views/:id``: counts a view of a note in the cache and
  answers the count.
"""

from modhost_sdk import HttpError, Module, Response, Router, Health, cache, config, db, export, log, metrics

router = Router()
NOTES = db.Collection("notes")


@router.get("/notes-py/hello")
def hello(request):
    return Response.json({"module": "notes_py", "language": "python"})


@router.post("/notes-py/notes")
def create_note(request):
    body = request.json()
    text = body.get("text") if isinstance(body, dict) else None
    longest = config.get("longest_note", 10_000)
    if not isinstance(text, str) or not text or len(text) > longest:
        raise HttpError.bad_request(f"a note is {{\"text\": \"...\"}} of 1 to {longest} characters")
    note = {"text": text}
    note["_id"] = NOTES.insert_one(note)
    log.info("note stored", id=note["_id"], length=len(text))
    metrics.increment("notes_stored", language="python")
    return Response.json(note, 201)


@router.get("/notes-py/notes/:id")
def get_note(request):
    note = NOTES.find_one({"_id": request.param("id")})
    if note is None:
        raise HttpError.not_found(f"no note {request.param('id')}")
    return Response.json(note)


@router.get("/notes-py/notes")
def list_notes(request):
    limit = min(request.query_number("limit", 20), 100)
    return Response.json(NOTES.find({}, sort={"_id": -1}, limit=limit))


@router.post("/notes-py/views/:id")
def count_view(request):
    views = cache.incr(f"views:{request.param('id')}")
    return Response.json({"id": request.param("id"), "views": views})


class NotesPy(Module):
    NAME = "notes_py"
    VERSION = "0.1.0"
    DESCRIPTION = "Notes, written in Python"
    ROUTES = router

    def init(self):
        log.info("notes_py ready")

    def health(self):
        try:
            count = NOTES.count()
        except HttpError as err:
            return Health("unhealthy", database=err.message)
        return Health("healthy", notes=count)


WitWorld = export(NotesPy)
