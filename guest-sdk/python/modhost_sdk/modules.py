"""Calls to the modules this one declared as dependencies (the ``modules``
grant)."""

import json

from wit_world.imports import modules as _modules

from ._errors import host_call
from ._http import Response

_STATUSES = {"Busy": 503, "TooLarge": 413, "NotGranted": 500}


def call(module, method, path, body=None, headers=None):
    """Calls ``method path`` of ``module``; its ``Response``. A dict or
    list ``body`` is sent as JSON."""
    headers = list((headers or {}).items())
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.append(("content-type", "application/json"))
    request = _modules.CallRequest(method, path, headers, body or b"")
    response = host_call(_STATUSES, _modules.call, module, request)
    return Response(response.status, response.body, response.headers)
