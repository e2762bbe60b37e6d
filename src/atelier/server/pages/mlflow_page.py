"""MLflow's page (``/mlflow/``) with Atelier's settings for its UI added on the way through.

MLflow's UI shows a telemetry notice and its assistant unless the browser's localStorage says
otherwise, and MLflow has no server setting for either (the assistant shows whenever the page
is opened on ``localhost``). So the gateway adds two of Atelier's static files to the head of
MLflow's ``index.html``, ahead of MLflow's own scripts: ``mlflow-settings.js`` stores the
settings, ``mlflow-settings.css`` hides the assistant. Both come from the portal's origin, as
the tool policy allows; MLflow's files stay untouched.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

#: What goes right after ``<head>``: before MLflow's deferred bundle, so it runs first.
SETTINGS_TAGS = (
    b'<script src="/static/mlflow-settings.js"></script>'
    b'<link rel="stylesheet" href="/static/mlflow-settings.css">'
)
PAGE_PATH = "/mlflow/"
_HEAD = re.compile(rb"<head[^>]*>", re.IGNORECASE)
#: Asked of MLflow for its page: the whole page, never "not modified" (a browser's copy from
#: before these settings would otherwise stay in use), and not compressed.
_DROPPED_REQUEST_HEADERS = {b"accept-encoding", b"if-none-match", b"if-modified-since", b"range"}
#: Validators of MLflow's file, which no longer describe the page sent.
_DROPPED_RESPONSE_HEADERS = {b"content-length", b"etag", b"last-modified", b"cache-control"}


def is_page(method: str, path: str) -> bool:
    return method == "GET" and path == PAGE_PATH


def page_request(request: Request) -> Request:
    """``request`` for MLflow's page, without what would get a partial or encoded answer."""
    headers = [(k, v) for k, v in request.scope["headers"] if k not in _DROPPED_REQUEST_HEADERS]
    headers.append((b"accept-encoding", b"identity"))
    return Request({**request.scope, "headers": headers}, request.receive)


async def with_settings(response: Response) -> Response:
    """MLflow's page with the settings tags added; any other answer as it came."""
    content_type = response.headers.get("content-type", "")
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    if response.status_code != 200 or not content_type.startswith("text/html") or encoded:
        return response
    if isinstance(response, StreamingResponse):
        chunks = [chunk async for chunk in response.body_iterator]
        body = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
        if response.background is not None:
            await response.background()  # the upstream connection goes back to its pool now
    else:  # read whole by the gateway already
        body = bytes(response.body)
    page = _HEAD.sub(lambda head: head.group(0) + SETTINGS_TAGS, body, count=1)
    headers = [
        (name, value)
        for name, value in response.raw_headers
        if name not in _DROPPED_RESPONSE_HEADERS
    ]
    headers.append((b"cache-control", b"no-cache"))
    result = Response(page, status_code=200)
    result.raw_headers = [*headers, (b"content-length", str(len(page)).encode())]
    return result
