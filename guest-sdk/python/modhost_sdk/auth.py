"""Tokens the host signs (``auth.issue``) and password hashing
(``auth.passwords``)."""

import json

from wit_world.imports import auth as _auth

from ._errors import host_call

_STATUSES = {"InvalidPassword": 400, "Busy": 503}


def issue(subject, claims=None, lifetime_seconds=3600):
    """A bearer token for ``subject`` with extra ``claims``."""
    return host_call(_STATUSES, _auth.issue, subject, json.dumps(claims or {}), lifetime_seconds)


def hash_password(password):
    """The host's hash of ``password``."""
    return host_call(_STATUSES, _auth.hash_password, password)


def verify_password(password, hashed):
    """Whether ``password`` matches ``hashed``."""
    return host_call(_STATUSES, _auth.verify_password, password, hashed)
