"""One receiver for ``multipart/form-data`` bodies that bring a large file: text fields and one
file part, parsed as the body streams.

Starlette's ``request.form()`` spools every file part to the system's temporary folder (which
may be RAM) before the route runs, so a route could neither choose where the file goes nor
refuse the request before storing it. :func:`receive_form` reads the body as it arrives
(python-multipart's :class:`MultipartParser`) instead:

* text fields are kept in memory, each at most ``max_field`` bytes, at most ``max_fields`` of
  them; ``check_field(name, fields)`` may refuse a field as soon as its headers arrive (all but
  the CSRF token, which any form may carry);
* when the file part's headers arrive, ``destination(part, fields)`` runs in the thread pool
  with the fields that came before it: it checks what it must (the job's JSON, the caller's
  rights) and returns the path the file is written to. Not a byte of the file is stored before
  it returns (at most one received chunk waits in memory);
* the file is written there as it arrives (the writes run in the thread pool) and refused with
  ``file_too_large(max_file)`` as soon as it passes ``max_file`` bytes;
* a body that is not ``multipart/form-data`` (``usage`` says how to send it), is malformed,
  ends before its closing boundary, has a second file, a nameless part or a part whose headers
  pass 16 KiB is refused with one line that names what is wrong.

On any failure the file is closed; deleting what ``destination`` made is the caller's (it knows
what it made: an inbox entry, an archive). The client's ``filename`` is passed on as sent: it
is never a path to trust.

A browser form that sends its CSRF token as a field has been parsed by the CSRF check before
the route runs (``request.form()``): the receiver then replays that parsed form through the
same rules.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request

from atelier.errors import AtelierError, InvalidInput

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 20
#: The headers of one part (Content-Disposition, Content-Type...), all together.
MAX_HEADER_BYTES = 16 * 1024
#: The portal's CSRF token as a form field (``server.security.check_csrf``): any form may
#: carry it, so ``check_field`` never refuses it.
CSRF_FIELD = "csrf_token"
#: What the form parsed by the CSRF check is copied in.
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """The file part, as its headers describe it."""

    name: str
    #: As the client sent it (None when it sent none): never a path to trust.
    filename: str | None


@dataclass
class Form:
    """What arrived: the text fields, and where the file part went (None: there was none)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    part: Part | None = None
    size: int = 0


class PartTooLarge(InvalidInput):
    """A file part past its limit (413, like every body past a limit)."""

    status_code = 413


#: ``destination(part, fields)``: where the file part goes (run in the thread pool, with the
#: fields that came before it); raise to refuse the request before the file is stored.
Destination = Callable[[Part, dict[str, str]], Path]
#: ``check_field(name, fields)``: refuse a field by its name, before its value is read.
FieldCheck = Callable[[str, dict[str, str]], None]


def _file_too_large(limit: int) -> AtelierError:
    return PartTooLarge(f"the file is larger than {_size(limit)}")


@dataclass(frozen=True)
class _Rules:
    destination: Destination
    file_field: str | None
    check_field: FieldCheck | None
    max_field: int
    max_fields: int
    max_file: int | None
    file_too_large: Callable[[int], Exception]
    one_file: str

    def is_file(self, name: str, filename: str | None) -> bool:
        # With a file field named, that part is the file (with or without a filename);
        # otherwise the part that has a filename is.
        return name == self.file_field if self.file_field else filename is not None

    def admit_field(self, name: str, fields: dict[str, str]) -> None:
        if self.check_field is not None and name != CSRF_FIELD:
            self.check_field(name, fields)
        if name not in fields and len(fields) >= self.max_fields:
            raise InvalidInput(f"the form has more than {self.max_fields} fields")


async def receive_form(
    request: Request,
    destination: Destination,
    *,
    usage: str,
    file_field: str | None = None,
    check_field: FieldCheck | None = None,
    max_field: int = MAX_FIELD_BYTES,
    max_fields: int = MAX_FIELDS,
    max_file: int | None = None,
    file_too_large: Callable[[int], Exception] = _file_too_large,
    one_file: str = "send one file per request",
) -> Form:
    """The request's form, its file written where ``destination`` says as it arrives.

    ``usage`` is the whole message for a body that is not ``multipart/form-data``;
    ``file_field`` names the file part (default: the part with a filename); ``one_file`` is
    the message for a second file part."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise InvalidInput(usage)
    rules = _Rules(
        destination,
        file_field,
        check_field,
        max_field,
        max_fields,
        max_file,
        file_too_large,
        one_file,
    )
    stream = _Stream(rules)
    parser = MultipartParser(params[b"boundary"], cast(Any, stream.callbacks()))
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                await stream.settle()
            parser.finalize()
        except MultipartParseError as error:
            raise InvalidInput(f"the body is not valid multipart/form-data: {error}") from None
        except RuntimeError as error:
            if "consumed" not in str(error) or stream.started:
                raise
            # The CSRF check parsed the form already (a browser form without the header).
            return await _replay(request, rules)
        if not stream.ended:
            raise InvalidInput(
                "the body is not valid multipart/form-data: it ends before its closing boundary"
            )
    finally:
        stream.close()
    return stream.form


class _Stream:
    """python-multipart's callbacks: fields kept, the file part's bytes queued for
    :meth:`settle` (which finds the file's destination, then writes, in the thread pool)."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules
        self.form = Form()
        self.started = False
        self.ended = False
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self._headers = 0
        self._header_field = b""
        self._header_value = b""
        self._disposition: bytes | None = None
        self._opening: tuple[Part, dict[str, str]] | None = None
        self._out: BinaryIO | None = None
        self._pending: list[bytes] = []

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.started = True
        self._name, self._is_file, self._data = "", False, bytearray()
        self._headers, self._disposition = 0, None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]
        self._count_header(end - start)

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, size: int) -> None:
        self._headers += size
        if self._headers > MAX_HEADER_BYTES:
            raise InvalidInput(
                f"the headers of a form part are larger than {_size(MAX_HEADER_BYTES)}"
            )

    def _header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition or b"")
        if not options.get(b"name"):
            raise InvalidInput(
                'a part of the form has no name (send Content-Disposition: form-data; name="...")'
            )
        self._name = options[b"name"].decode("utf-8", "replace")
        raw = options.get(b"filename")
        filename = raw.decode("utf-8", "replace") if raw is not None else None
        if not self.rules.is_file(self._name, filename):
            self.rules.admit_field(self._name, self.form.fields)
            return
        if self.form.part is not None:
            raise InvalidInput(self.rules.one_file)
        self._is_file = True
        self.form.part = Part(self._name, filename)
        self._opening = (self.form.part, dict(self.form.fields))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.form.size += end - start
            limit = self.rules.max_file
            if limit is not None and self.form.size > limit:
                raise self.rules.file_too_large(limit)
            self._pending.append(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > self.rules.max_field:
            raise InvalidInput(
                f"form field {self._name!r} is larger than {_size(self.rules.max_field)}"
            )

    def _part_end(self) -> None:
        if not self._is_file:
            self.form.fields[self._name] = self._data.decode("utf-8", "replace")

    def _end(self) -> None:
        self.ended = True

    async def settle(self) -> None:
        """After each chunk: open the file part's destination once it is known (the hook's
        checks first), then write what arrived of it."""
        if self._opening is not None:
            part, before = self._opening
            self._opening = None
            path = await run_in_threadpool(self.rules.destination, part, before)
            self.form.file = path
            self._out = await run_in_threadpool(path.open, "xb")
        if self._pending:
            await run_in_threadpool(self._write)

    def _write(self) -> None:
        assert self._out is not None
        self._out.writelines(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
        if self._out is not None:
            self._out.close()
            self._out = None


async def _replay(request: Request, rules: _Rules) -> Form:
    """The form the CSRF check parsed, through the same rules (its files were spooled by
    Starlette; the file is copied to its destination, counted against the limit)."""
    parsed = await request.form()
    form = Form()
    try:
        for name, value in parsed.multi_items():
            filename = value.filename if isinstance(value, UploadFile) else None
            content = value.file if isinstance(value, UploadFile) else io.BytesIO(value.encode())
            if not rules.is_file(name, filename):
                rules.admit_field(name, form.fields)
                text = await run_in_threadpool(content.read, rules.max_field + 1)
                if len(text) > rules.max_field:
                    raise InvalidInput(
                        f"form field {name!r} is larger than {_size(rules.max_field)}"
                    )
                form.fields[name] = text.decode("utf-8", "replace")
                continue
            if form.part is not None:
                raise InvalidInput(rules.one_file)
            form.part = Part(name, filename)
            form.file = await run_in_threadpool(rules.destination, form.part, dict(form.fields))
            form.size = await run_in_threadpool(_copy, content, form.file, rules)
    finally:
        await parsed.close()
    return form


def _copy(source: IO[bytes], path: Path, rules: _Rules) -> int:
    size = 0
    with path.open("xb") as out:
        while chunk := source.read(_COPY_CHUNK):
            size += len(chunk)
            if rules.max_file is not None and size > rules.max_file:
                raise rules.file_too_large(rules.max_file)
            out.write(chunk)
    return size


def _size(limit: int) -> str:
    """``65536`` -> ``64 KiB``; ``1048576`` -> ``1 MiB`` (limits set in code, in powers of 2)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= factor and limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"


__all__ = ["Destination", "FieldCheck", "Form", "Part", "PartTooLarge", "receive_form"]
