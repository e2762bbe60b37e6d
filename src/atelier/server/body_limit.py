"""A size limit on every request body, enforced while the body is read.

A body whose ``Content-Length`` is over the limit is refused before any of it is read or the
caller is looked up. Every other body is counted as it arrives from ``receive`` (so a missing
or false ``Content-Length``, or a chunked body, changes nothing): once the count passes the
limit, reading it raises :class:`BodyTooLarge`, and the answer is ``413`` with a message that
names the limit and the setting. The body is never held to be measured, so memory does not
grow with it.

Uploads (files, the folders that travel: jobs' working trees, projects pushed, apps' folders;
MLflow artifacts, notebook files, what hosted apps receive) have their own, larger limit,
``server.max_upload_size``; everything else has ``server.max_body_size``. A folder's archive is
bounded by :mod:`atelier.contract.trees` besides (:func:`spooled_archive`; a job's tree by
``compute.max_tree_size``), whatever ``server.max_upload_size`` says.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atelier.config.settings import ServerSettings
from atelier.config.units import format_size, parse_size
from atelier.contract.trees import MAX_ARCHIVE
from atelier.errors import InvalidInput

#: Paths whose bodies are uploads (``/apps/NAME/-/...`` are the portal's own app pages).
UPLOAD_PREFIXES = ("/api/v1/uploads", "/api/v1/jobs/tree", "/notebooks/", "/collab/")
#: Folders that travel as archives: an app's folder; a project's files are
#: ``/api/v1/projects/NAME/files``.
UPLOAD_PATHS = frozenset({"/api/v1/apps/deploy/bundle"})
#: Archives up to this size stay in memory while received, larger ones go to a temporary file.
SPOOL = 8 * 2**20


def is_upload(path: str) -> bool:
    if path.startswith(UPLOAD_PREFIXES) or path in UPLOAD_PATHS:
        return True
    if path.startswith("/api/v1/projects/"):
        parts = path.split("/")
        return len(parts) == 6 and parts[5] == "files"
    if path.startswith("/mlflow/"):
        return "/mlflow-artifacts/" in path
    if path.startswith("/apps/"):
        parts = path.split("/", 4)
        return len(parts) > 3 and parts[3] != "-"
    return False


@dataclass(frozen=True)
class Limits:
    """The body limits in bytes, and the settings they come from (for messages)."""

    body: int
    upload: int

    @classmethod
    def from_settings(cls, server: ServerSettings) -> Limits:
        return cls(parse_size(server.max_body_size), parse_size(server.max_upload_size))

    def for_path(self, path: str) -> tuple[int, str]:
        if is_upload(path):
            return self.upload, "server.max_upload_size"
        return self.body, "server.max_body_size"


class BodyTooLarge(HTTPException):
    """Raised by ``receive`` once a body passes its limit (a 413 wherever it surfaces)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            413,
            f"the request body is larger than {format_size(limit)}, the limit for this path "
            f"(setting {setting}, ATELIER_{setting.replace('.', '_').upper()})",
        )


class BodyLimit:
    """ASGI middleware: bodies over their path's limit are answered with 413."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limits.for_path(scope["path"])

        def too_large() -> BodyTooLarge:  # made only when needed: most requests fit
            return BodyTooLarge(limit, setting)

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(too_large(), scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise too_large()
            return message

        async def checked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if exceeded and message["status"] != 413:
                    # Whatever the app made of the cut body (a 400, a proxy's 502), it is a 413.
                    raise too_large()
                if exceeded:
                    # The rest of the body is never read: the connection ends with the answer.
                    MutableHeaders(scope=message)["connection"] = "close"
                started = True
            await send(message)

        try:
            await self.app(scope, counted, checked)
        except Exception:
            # Once the limit is passed the body is cut short: whatever failed, failed for that.
            if not exceeded or started:
                raise
            await _refuse(too_large(), scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    # The connection is closed after this answer: the rest of the body is never read.
    response = JSONResponse(
        {"detail": error.detail}, status_code=413, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


class ArchiveTooLarge(InvalidInput):
    status_code = 413


async def spooled_archive(request: Request, limit: int = MAX_ARCHIVE) -> IO[bytes]:
    """The request's body, a folder's tar.gz archive, in a temporary file read from its start
    (close it): refused with 413 past ``limit`` bytes (:data:`atelier.contract.trees.
    MAX_ARCHIVE`), declared or counted as it arrives, and never held in memory past
    :data:`SPOOL` bytes."""
    declared = _content_length(request.scope)
    if declared is not None and declared > limit:
        raise ArchiveTooLarge(_archive_too_large(limit))
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 (returned)
    try:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ArchiveTooLarge(_archive_too_large(limit))
            body.write(chunk)
        body.seek(0)
    except BaseException:
        body.close()
        raise
    return body


def _archive_too_large(limit: int) -> str:
    return (
        f"the folder's archive is larger than {format_size(limit)} compressed, the most a "
        "folder may bring: keep data out of it (ignore it in .gitignore) and read it from the "
        "warehouse"
    )


__all__ = ["ArchiveTooLarge", "BodyLimit", "BodyTooLarge", "Limits", "is_upload", "spooled_archive"]
