"""The Flask peer of `my_new_module`: the same four routes as the modhost
module (guest-modules/my_new_module), written the way the original Flask
system writes a module, on SQLite instead of MongoDB (no MongoDB server can
be had where the benchmark runs). bench/db-routes serves it with gunicorn
next to modhost and measures both with the same load generator.

Durability matches modhost's: WAL journal with synchronous=FULL, so an
acknowledged insert is on disk. Each worker keeps one connection.

    PEER_DB=peer.sqlite3 gunicorn -w 2 -b 127.0.0.1:8000 app:app
    PEER_DB=peer.sqlite3 python app.py seed 100000
"""

import datetime
import itertools
import json
import os
import sqlite3
import sys
import threading
import time

from flask import Flask, jsonify, request

DB_PATH = os.environ.get("PEER_DB", "peer.sqlite3")
DEFAULT_PAGE = 100
NAME = "my_new_module"

app = Flask(__name__)
initialized_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
local = threading.local()
counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
process_part = os.urandom(5).hex()


def connection():
    """This thread's connection, opened once."""
    if not hasattr(local, "db"):
        db = sqlite3.connect(DB_PATH)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS my_module_data (id TEXT PRIMARY KEY, doc TEXT NOT NULL)"
        )
        local.db = db
    return local.db


def object_id():
    """A MongoDB-style ObjectId as hex: seconds, process, counter."""
    count = next(counter) & 0xFFFFFF
    return "%08x%s%06x" % (int(time.time()), process_part, count)


def failure(status, message):
    return jsonify({"success": False, "error": message}), status


def query_number(name, default):
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number")
    return int(value)


@app.get("/my-module/info")
def module_info():
    return jsonify(
        {
            "module": NAME,
            "status": "active",
            "initialized_at": initialized_at,
            "dependencies": [],
        }
    )


@app.get("/my-module/data")
def list_data():
    try:
        skip = query_number("skip", 0)
        limit = query_number("limit", DEFAULT_PAGE)
    except ValueError as err:
        return failure(400, str(err))
    rows = connection().execute(
        "SELECT doc FROM my_module_data ORDER BY id LIMIT ? OFFSET ?", (limit, skip)
    )
    data = [json.loads(doc) for (doc,) in rows]
    return jsonify({"success": True, "count": len(data), "data": data})


@app.get("/my-module/data/<record_id>")
def get_data(record_id):
    row = (
        connection()
        .execute("SELECT doc FROM my_module_data WHERE id = ?", (record_id,))
        .fetchone()
    )
    if row is None:
        return failure(404, f"no record with id {record_id}")
    return jsonify({"success": True, "data": json.loads(row[0])})


@app.post("/my-module/data")
def create_data():
    record = request.get_json(silent=True)
    if not isinstance(record, dict) or "name" not in record:
        return failure(400, "Missing required field: name")
    record["_id"] = record_id = object_id()
    record["created_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    record["module"] = NAME
    db = connection()
    with db:
        db.execute(
            "INSERT INTO my_module_data (id, doc) VALUES (?, ?)",
            (record_id, json.dumps(record)),
        )
    return jsonify({"success": True, "id": record_id, "message": "Data created successfully"})


def seed(documents):
    """Adds `documents` records shaped like those POST stores."""
    db = connection()
    rows = (
        (
            record_id,
            json.dumps(
                {
                    "_id": record_id,
                    "name": f"record {n}",
                    "value": n,
                    "created_at": "2026-11-28T00:00:00+00:00",
                    "module": NAME,
                }
            ),
        )
        for n in range(documents)
        for record_id in [object_id()]
    )
    with db:
        db.executemany("INSERT INTO my_module_data (id, doc) VALUES (?, ?)", rows)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "seed":
        sys.exit("usage: PEER_DB=<file> python app.py seed <documents>")
    seed(int(sys.argv[2]))
