"""REST API: uploads. Files and DataFrames become versioned warehouse tables.

* ``POST /uploads/preview`` (multipart: ``file`` or ``upload_id``, ``options``): how the file
  would be read. The file is kept under the returned ``upload_id`` for a day, so the portal
  sends it once and commits it by id.
* ``POST /uploads`` (multipart: ``file`` or ``upload_id``, ``name``, ``mode``, ``options``,
  ``schema``; or an ``application/vnd.apache.arrow.stream`` body with ``?name=&mode=&schema=``,
  as the remote SDK sends DataFrames): load it into a table; 201 with table, version, rows,
  columns. The service refuses a schema the caller may not write (403) before reading.
* ``DELETE /uploads/{upload_id}``: drop a received file that will not be used.

Bodies are streamed to the workspace's upload folder as they arrive (never held in memory,
never spooled to the system's temporary folder, which may be RAM); the blocking work runs in
the thread pool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from atelier.contract import ARROW_STREAM
from atelier.contract.data import UploadResult
from atelier.errors import AtelierError, InvalidInput
from atelier.server.api.deps import client, workbench
from atelier.server.api.multipart import Part, receive_form
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA
from atelier.services.ingest import Ingest, Received

router = APIRouter(prefix="/uploads", tags=["uploads"])

USAGE = (
    "send the upload as multipart/form-data with a 'file' (or 'upload_id') field, "
    f"or a DataFrame as {ARROW_STREAM}"
)


@router.post("/preview")
async def preview(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> JSONResponse:
    """Detected format and options, columns with types, and the first rows of a file."""
    ingest = workbench(request).ingest
    fields, received, sent = await _receive(request, ingest, principal)
    if sent:  # kept for the upload by id, which may reach another server
        try:
            await run_in_threadpool(ingest.inbox.keep, received)
        except BaseException:
            ingest.inbox.discard(received.id)
            raise
    try:
        found = await run_in_threadpool(
            ingest.detect, received.path, options=_options(fields.get("options"))
        )
    except AtelierError as error:
        # The file stays: the user can fix the options and preview again by id.
        body = {"detail": str(error), "upload_id": received.id, "file": received.name}
        return JSONResponse(body, status_code=error.status_code)
    return JSONResponse({**found.as_dict(), "upload_id": received.id})


@router.post("", status_code=201, response_model=UploadResult)
async def upload(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> dict[str, Any]:
    """Load a file (or an Arrow stream) into table ``name`` with ``mode``."""
    ingest = workbench(request).ingest
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == ARROW_STREAM:
        fields = dict(request.query_params)
        # Refused before a byte is stored: the target is in the query.
        await run_in_threadpool(
            ingest.check_target, principal, _required(fields, "name"), fields.get("schema")
        )
        received = ingest.inbox.new("dataframe.arrows", principal.name)
        sent = True
        try:
            await _save_body(request, received)
        except BaseException:
            ingest.inbox.discard(received.id)
            raise
    else:
        fields, received, sent = await _receive(request, ingest, principal)
    succeeded = False
    try:
        result = await run_in_threadpool(
            ingest.upload,
            received.path,
            _required(fields, "name"),
            mode=fields.get("mode") or "create",
            options=_options(fields.get("options")),
            schema=fields.get("schema") or None,
            filename="DataFrame" if content_type == ARROW_STREAM else received.name,
            principal=principal,
            client=client(request),
        )
        succeeded = True
    finally:
        # A file sent with this request goes either way; one received earlier (by id) stays
        # after a failure, so the user can correct the options and try again.
        if sent or succeeded:
            ingest.inbox.discard(received.id)
    return result.as_dict()


@router.delete("/{upload_id}", status_code=204)
def discard(
    upload_id: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> Response:
    """Drop a received file (the portal's Cancel)."""
    inbox = workbench(request).ingest.inbox
    inbox.discard(inbox.get(upload_id, principal.name).id)
    return Response(status_code=204)


# -- receiving ---------------------------------------------------------------------------


async def _receive(
    request: Request, ingest: Ingest, principal: Principal
) -> tuple[dict[str, str], Received, bool]:
    """``(fields, file, sent now)``: the form's fields and its file part, written to the
    inbox as it arrives, or the file received earlier under the form's ``upload_id``."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        # Fields only: a file received earlier, named by its upload_id.
        fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        return fields, _earlier(ingest, fields, principal), False
    received: Received | None = None

    def destination(part: Part, fields: dict[str, str]) -> Path:
        nonlocal received
        if fields.get("name"):  # sent before the file (as the portal, CLI and SDK do)
            ingest.check_target(principal, fields["name"], fields.get("schema"))
        received = ingest.inbox.new(part.filename, principal.name)
        return received.path

    try:
        form = await receive_form(
            request, destination, usage=USAGE, one_file="send one file per upload"
        )
    except BaseException:
        if received is not None:
            ingest.inbox.discard(received.id)
        raise
    if received is None:
        return form.fields, _earlier(ingest, form.fields, principal), False
    return form.fields, received, True


def _earlier(ingest: Ingest, fields: dict[str, str], principal: Principal) -> Received:
    if not fields.get("upload_id"):
        raise InvalidInput("the form has no 'file' to upload (nor an 'upload_id')")
    return ingest.inbox.get(fields["upload_id"], principal.name)


async def _save_body(request: Request, received: Received) -> None:
    with received.path.open("wb") as out:
        async for chunk in request.stream():
            if chunk:
                await run_in_threadpool(out.write, chunk)


def _options(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidInput('options must be a JSON object, e.g. {"delimiter": ";"}') from None
    if not isinstance(value, dict):
        raise InvalidInput('options must be a JSON object, e.g. {"delimiter": ";"}')
    return value


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise InvalidInput(f"the upload needs a table {name}")
    return value
