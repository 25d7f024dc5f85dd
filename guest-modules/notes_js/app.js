// notes_js: a module written in JavaScript with modhost's JavaScript SDK.
//
// - `GET /notes-js/hello`: a fixed answer (the benchmark's trivial route).
// - `POST /notes-js/notes`: stores `{"text": ...}` in the module's own
//   collection, logs it and counts it (`modhost_module_notes_stored_total`
//   on the host's `/metrics`); answers the note with its `_id` (201). A note
//   is at most `longest_note` characters (config; 10,000 by default).
// - `GET /notes-js/notes/:id`: one note, or 404.
// - `GET /notes-js/notes`: the latest notes, `?limit=` (at most 100).
// - `POST /notes-js/views/:id`: counts a view of a note in the cache and
//   answers the count.

import { Collection, HttpError, Response, Router, cache, config, exportModule, log, metrics } from "../../guest-sdk/js/modhost.js";

const notes = new Collection("notes");

const router = new Router()
  .get("/notes-js/hello", () => Response.json({ module: "notes_js", language: "javascript" }))
  .post("/notes-js/notes", (request) => {
    const body = request.json();
    const text = body && body.text;
    const longest = config.get("longest_note", 10000);
    if (typeof text !== "string" || text.length === 0 || text.length > longest) {
      throw HttpError.badRequest(`a note is {"text": "..."} of 1 to ${longest} characters`);
    }
    const note = { text };
    note._id = notes.insertOne(note);
    log.info("note stored", { id: note._id, length: text.length });
    metrics.increment("notes_stored", { language: "javascript" });
    return Response.json(note, 201);
  })
  .get("/notes-js/notes/:id", (request) => {
    const note = notes.findOne({ _id: request.param("id") });
    if (note === null) throw HttpError.notFound(`no note ${request.param("id")}`);
    return Response.json(note);
  })
  .get("/notes-js/notes", (request) => {
    const limit = Math.min(request.queryNumber("limit", 20), 100);
    return Response.json(notes.find({}, { sort: { _id: -1 }, limit }));
  })
  .post("/notes-js/views/:id", (request) => {
    const views = cache.incr(`views:${request.param("id")}`);
    return Response.json({ id: request.param("id"), views });
  });

export const { describe, init, handle, health } = exportModule({
  name: "notes_js",
  version: "0.1.0",
  description: "Notes, written in JavaScript",
  router,
  init: () => log.info("notes_js ready"),
  health: () => ({ status: "healthy", notes: notes.count() }),
});
