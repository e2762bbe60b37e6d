"""The streaming multipart receiver on its own: bodies cut into chunks anywhere (headers split
across reads, a byte at a time), the destination hook called before a byte of the file is
stored, and each malformed or hostile body refused with its one line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from atelier.errors import InvalidInput
from atelier.server.api.multipart import Form, Part, PartTooLarge, receive_form

BOUNDARY = "b0und4ry"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field(name: str, value: bytes) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + (
        value + b"\r\n"
    )


def file(name: str, filename: str, data: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name={name!r}; filename={filename!r}"
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).replace("'", '"')
    return head.encode() + data + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()


class Sink:
    """A destination hook that records its calls; refuses with ``refuse`` when given."""

    def __init__(self, folder: Path, refuse: str | None = None) -> None:
        self.folder = folder
        self.refuse = refuse
        self.calls: list[tuple[Part, dict[str, str], bool]] = []

    def __call__(self, part: Part, fields: dict[str, str]) -> Path:
        path = self.folder / "received.bin"
        self.calls.append((part, fields, path.exists()))
        if self.refuse:
            raise InvalidInput(self.refuse)
        return path


def receive(
    chunks: Iterable[bytes],
    destination: Callable[[Part, dict[str, str]], Path],
    content_type: str = CONTENT_TYPE,
    parsed_first: bool = False,
    **rules: Any,
) -> Form:
    """The form read from ``chunks`` (each one ``receive`` message)."""
    pending = iter(chunks)

    async def next_message() -> dict[str, Any]:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", content_type.encode())],
    }

    async def run() -> Form:
        request = Request(scope, next_message)
        if parsed_first:
            await request.form()  # as the CSRF check does for a browser form
        return await receive_form(request, destination, usage="send a form", **rules)

    return asyncio.run(run())


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


@pytest.mark.parametrize("cut", ["whole", "bytewise", "parsed first"])
def test_fields_around_the_file_and_the_hook_before_any_byte(tmp_path: Path, cut: str) -> None:
    # Every byte value, a line that looks like a boundary; bigger than one read when whole.
    data = bytes(range(256)) * (4 if cut == "bytewise" else 400) + f"\r\n--{BOUNDARY}x".encode()
    body = field("name", b"sales") + file("file", "a b.csv", data) + field("mode", b"append") + END
    sink = Sink(tmp_path)
    chunks = bytewise(body) if cut == "bytewise" else [body[:100], body[100:]]
    form = receive(chunks, sink, parsed_first=cut == "parsed first")
    assert form.fields == {"name": "sales", "mode": "append"}
    assert form.part == Part("file", "a b.csv") and form.size == len(data)
    assert form.file == tmp_path / "received.bin" and form.file.read_bytes() == data
    # Called once, with the fields before the file only, and before the file existed.
    assert sink.calls == [(Part("file", "a b.csv"), {"name": "sales"}, False)]


def test_a_form_without_a_file_and_a_named_file_field(tmp_path: Path) -> None:
    sink = Sink(tmp_path)
    form = receive([field("upload_id", b"abc") + END], sink)
    assert (form.fields, form.file, sink.calls) == ({"upload_id": "abc"}, None, [])
    # With a file field named, that part is the file (with or without a filename).
    tree = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tree"\r\n\r\n'.encode()
    form = receive([field("job", b"{}") + tree + b"tar\r\n" + END], sink, file_field="tree")
    assert form.part == Part("tree", None) and form.file and form.file.read_bytes() == b"tar"


def test_the_hook_refuses_before_the_file_is_stored(tmp_path: Path) -> None:
    sink = Sink(tmp_path, refuse="not yours")
    body = field("job", b"{}") + file("tree", "t.tgz", b"x" * 100_000) + END
    with pytest.raises(InvalidInput, match=r"^not yours$"):
        receive([body[:50], body[50:]], sink)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (field("a", b"1") + END, "application/json", "^send a form$"),
        (field("a", b"1") + END, "multipart/form-data", "^send a form$"),
        (field("a", b"1") + END, "multipart/form-data; boundary=", "^send a form$"),
        (b"garbage\x00\xff", CONTENT_TYPE, "not valid multipart/form-data: Expected boundary"),
        (field("a", b"1") + END, "multipart/form-data; boundary=other", "not valid multipart"),
        (b"", CONTENT_TYPE, "ends before its closing boundary"),
        (field("a", b"1"), CONTENT_TYPE, "ends before its closing boundary"),
        (field("a", b"1") + file("f", "a", b"1,2\n3,4"), CONTENT_TYPE, "ends before its closing"),
        (
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode() + END,
            CONTENT_TYPE,
            "a part of the form has no name",
        ),
        (
            file("f", "a.csv", b"1") + file("g", "b.csv", b"2") + END,
            CONTENT_TYPE,
            "^send one file per request$",
        ),
        (field("a", b"x" * (64 * 1024 + 1)) + END, CONTENT_TYPE, "'a' is larger than 64 KiB"),
        (b"".join(field(f"f{i}", b"") for i in range(21)) + END, CONTENT_TYPE, "more than 20"),
        (
            f"--{BOUNDARY}\r\n".encode() + f"X-Padding: {'p' * 4000}\r\n".encode() * 5,
            CONTENT_TYPE,
            "headers of a form part are larger than 16 KiB",
        ),
    ],
    ids=[
        "json",
        "no boundary",
        "empty boundary",
        "garbage",
        "other boundary",
        "empty",
        "truncated field",
        "truncated file",
        "nameless part",
        "second file",
        "field too large",
        "too many fields",
        "endless headers",
    ],
)
def test_malformed_bodies_are_refused_in_one_line(
    tmp_path: Path, body: bytes, content_type: str, message: str
) -> None:
    sink = Sink(tmp_path)
    for chunks in ([body], bytewise(body)):
        with pytest.raises(InvalidInput, match=message):
            receive(chunks, sink, content_type=content_type)
        # What was written of a file that never finished is closed (the caller deletes it).
        for made in tmp_path.iterdir():
            made.unlink()


@pytest.mark.parametrize("parsed_first", [False, True], ids=["streamed", "parsed first"])
def test_a_file_past_its_limit_is_refused_while_it_arrives(
    tmp_path: Path, parsed_first: bool
) -> None:
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for chunk in [field("job", b"{}") + file("tree", "t.tgz", b"")[:-2]] + [b"z" * 1000] * 99:
            pulled += 1
            yield chunk
        yield b"\r\n" + END

    with pytest.raises(PartTooLarge, match=r"^the file is larger than 10 KiB$") as refused:
        receive(chunks(), Sink(tmp_path), parsed_first=parsed_first, max_file=10 * 1024)
    assert refused.value.status_code == 413
    written = tmp_path / "received.bin"
    assert written.stat().st_size <= 10 * 1024
    if not parsed_first:
        # Streamed, it stops reading just past the limit.
        assert pulled == 1 + 11


def test_a_route_may_refuse_fields_by_name_and_its_own_limits(tmp_path: Path) -> None:
    def only_job(name: str, fields: dict[str, str]) -> None:
        if name != "job" or "job" in fields:
            raise InvalidInput(f"unexpected form field {name!r}")

    sink = Sink(tmp_path)
    rules: dict[str, Any] = {"check_field": only_job, "max_field": 1 << 20, "file_field": "tree"}
    form = receive([field("job", b"j" * 100_000) + END], sink, **rules)
    assert len(form.fields["job"]) == 100_000
    for body, message in [
        (field("job", b"{}") + field("job", b"{}") + END, "unexpected form field 'job'"),
        (field("other", b"{}") + END, "unexpected form field 'other'"),
        (field("job", b"j" * ((1 << 20) + 1)) + END, "'job' is larger than 1 MiB"),
    ]:
        # (a field past 1 MiB is refused by Starlette itself when the CSRF check parses it)
        for parsed_first in (False, True) if "MiB" not in message else (False,):
            with pytest.raises(InvalidInput, match=message):
                receive([body], sink, parsed_first=parsed_first, **rules)
