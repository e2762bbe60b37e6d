"""REST API: uploads. Files and DataFrames become versioned warehouse tables.

* ``POST /uploads/preview`` (multipart: ``file`` or ``upload_id``, ``options``): how the file
  would be read. The file is kept under the returned ``upload_id`` for a day, so the portal
  sends it once and commits it by id.
* ``POST /uploads`` (multipart: ``file`` or ``upload_id``, ``name``, ``mode``, ``options``;
  or an ``application/vnd.apache.arrow.stream`` body with ``?name=&mode=``, as the remote
  SDK sends DataFrames): load it into a table; 201 with table, version, rows, columns.
* ``DELETE /uploads/{upload_id}``: drop a received file that will not be used.

Bodies are streamed to the workspace's upload folder as they arrive (never held in memory,
never spooled to the system's temporary folder, which may be RAM); the blocking work runs in
the thread pool.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from atelier.contract import ARROW_STREAM
from atelier.contract.data import UploadResult
from atelier.errors import AtelierError, InvalidInput
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA
from atelier.services.ingest import Ingest, Received

router = APIRouter(prefix="/uploads", tags=["uploads"])

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 20


@router.post("/preview")
async def preview(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> JSONResponse:
    """Detected format and options, columns with types, and the first rows of a file."""
    ingest = workbench(request).ingest
    fields, received, _ = await _receive(request, ingest, principal)
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
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        # Fields only: a file received earlier, named by its upload_id.
        fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not fields.get("upload_id"):
            raise InvalidInput("the form has no 'file' to upload (nor an 'upload_id')")
        return fields, ingest.inbox.get(fields["upload_id"], principal.name), False
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidInput(
            "send the upload as multipart/form-data with a 'file' (or 'upload_id') field, "
            f"or a DataFrame as {ARROW_STREAM}"
        )
    form = _StreamedForm(ingest, principal.name)
    parser = MultipartParser(params[b"boundary"], cast(Any, form.callbacks()))
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                await run_in_threadpool(form.flush)
            parser.finalize()
        except MultipartParseError as error:
            raise InvalidInput(
                f"the upload is not a valid multipart/form-data body: {error}"
            ) from None
        except RuntimeError as error:
            if "consumed" not in str(error):
                raise
            # The CSRF check already parsed the form (a browser form without the header).
            await _from_parsed_form(request, form)
        await run_in_threadpool(form.close)
        if form.received is None:
            upload_id = form.fields.get("upload_id")
            if not upload_id:
                raise InvalidInput("the form has no 'file' to upload (nor an 'upload_id')")
            return form.fields, ingest.inbox.get(upload_id, principal.name), False
        return form.fields, form.received, True
    except BaseException:
        form.close()
        if form.received is not None:
            ingest.inbox.discard(form.received.id)
        raise


class _StreamedForm:
    """Callbacks for python-multipart: small fields kept in memory, the file part written to
    an inbox file (the writes are queued and done in the thread pool by :meth:`flush`)."""

    def __init__(self, ingest: Ingest, owner: str) -> None:
        self.ingest = ingest
        self.owner = owner
        self.fields: dict[str, str] = {}
        self.received: Received | None = None
        self._file: BinaryIO | None = None
        self._pending: list[bytes] = []
        self._name = ""
        self._data = bytearray()
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._name, self._data, self._disposition = "", bytearray(), b""

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.fields) >= MAX_FIELDS:
                raise InvalidInput(f"the form has more than {MAX_FIELDS} fields")
            return
        if self.received is not None:
            raise InvalidInput("send one file per upload")
        filename = options[b"filename"].decode("utf-8", "replace")
        self.received = self.ingest.inbox.new(filename, self.owner)
        self._file = self.received.path.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._pending.append(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > MAX_FIELD_BYTES:
            raise InvalidInput(f"form field {self._name!r} is larger than 64 KiB")

    def _part_end(self) -> None:
        if self._file is None:
            self.fields[self._name] = self._data.decode("utf-8", "replace")
        else:
            self.flush()
            self._file.close()
            self._file = None

    def flush(self) -> None:
        if self._file is not None and self._pending:
            self._file.writelines(self._pending)
        self._pending.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _from_parsed_form(request: Request, form: _StreamedForm) -> None:
    parsed = await request.form()
    for key, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            if form.received is not None:
                raise InvalidInput("send one file per upload")
            form.received = form.ingest.inbox.new(value.filename, form.owner)
            with form.received.path.open("wb") as out:
                await run_in_threadpool(shutil.copyfileobj, value.file, out, 1 << 20)
        else:
            form.fields[key] = value
    await parsed.close()


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
