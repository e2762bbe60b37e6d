"""Error pages: a person who opens a portal page and is refused gets an HTML page that says
what was refused and offers a way back; API clients (and scripts) keep the JSON answer."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from atelier.server.pages.render import render

#: Paths whose answers are for programs, never an HTML page.
MACHINE_PREFIXES = ("/api/", "/mlflow/", "/notebooks/", "/collab/", "/static/", "/health")

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Cannot use this input",
}


def wants_page(request: Request) -> bool:
    """A browser navigating to a portal page (not an htmx fragment, not an API call, not a
    WebSocket: a refused WebSocket handshake keeps the plain answer)."""
    if request.scope.get("type") != "http" or request.method not in ("GET", "HEAD"):
        return False
    if request.url.path.startswith(MACHINE_PREFIXES) or request.headers.get("hx-request"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 400 or exc.status_code == 401 or not wants_page(request):
        return await http_exception_handler(request, exc)
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        title=TITLES.get(exc.status_code, "Something went wrong"),
        detail=str(exc.detail),
        code=exc.status_code,
        refused=request.url.path,
        back=_back(request),
    )


def _back(request: Request) -> str:
    """The page the person came from when it is one of ours, else the home page."""
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = not referer.netloc or referer.netloc == request.url.netloc
    path = referer.path
    if (
        same_site
        and path.startswith("/")
        and not path.startswith("//")
        and path != request.url.path
    ):
        return path + (f"?{referer.query}" if referer.query else "")
    return "/"
