"""The module's own collections (the ``db`` grant): MongoDB-style filters,
updates and options, documents as dicts."""

import json

from wit_world.imports import db as _db

from ._errors import host_call

# The statuses the Rust SDK gives each db error.
_STATUSES = {
    "DuplicateKey": 409,
    "ExpectationFailed": 409,
    "DocumentTooLarge": 413,
    "InvalidDocument": 400,
    "Unavailable": 503,
    "Timeout": 504,
    "QuotaExceeded": 507,
}


def _call(function, *args):
    return host_call(_STATUSES, function, *args)


def _options(sort, skip, limit, projection):
    return _db.FindOptions(
        None if sort is None else json.dumps(sort),
        skip,
        limit,
        None if projection is None else json.dumps(projection),
    )


class Collection:
    """One of the module's collections, by name."""

    def __init__(self, name):
        self.name = name

    def find(self, filter=None, sort=None, skip=0, limit=None, projection=None):
        """The documents matching ``filter``, as a list of dicts."""
        found = _call(
            _db.find, self.name, json.dumps(filter or {}), _options(sort, skip, limit, projection)
        )
        return [json.loads(document) for document in found]

    def find_one(self, filter=None, sort=None, projection=None):
        """The first document matching ``filter``, or None."""
        found = _call(
            _db.find_one, self.name, json.dumps(filter or {}), _options(sort, 0, None, projection)
        )
        return None if found is None else json.loads(found)

    def insert_one(self, document):
        """Stores ``document``; returns its ``_id`` (made when absent)."""
        return _call(_db.insert_one, self.name, json.dumps(document))

    def update_one(self, filter, update, upsert=False):
        """Applies ``update`` to the first match; returns (matched, modified)."""
        result = _call(_db.update_one, self.name, json.dumps(filter), json.dumps(update), upsert)
        return result.matched, result.modified

    def delete_one(self, filter):
        """Deletes the first match; returns how many were deleted (0 or 1)."""
        return _call(_db.delete_one, self.name, json.dumps(filter))

    def count(self, filter=None):
        """How many documents match ``filter``."""
        return _call(_db.count, self.name, json.dumps(filter or {}))

    def create_index(self, field, unique=False):
        """An index on ``field``."""
        _call(_db.create_index, self.name, field, unique)
