"""A ``multipart/form-data`` body produced in chunks, so that an uploaded file is read as it is
sent (never held in memory): the remote client's uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path


class MultipartBody:
    """Some text fields and one file, as a multipart body of known length."""

    CHUNK = 1 << 20

    def __init__(self, file: Path, fields: dict[str, str]) -> None:
        self.file = file
        self.file_size = file.stat().st_size
        self.boundary = f"atelier-{uuid.uuid4().hex}"
        head = b"".join(
            self._part_header(key) + value.encode("utf-8") + b"\r\n"
            for key, value in fields.items()
        )
        self.head = head + self._part_header("file", file.name)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.file_size + len(self.tail)

    def _part_header(self, name: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            safe = filename.replace('"', "%22").replace("\r", "").replace("\n", "")
            disposition += f'; filename="{safe}"'
            extra = "\r\nContent-Type: application/octet-stream"
        else:
            extra = ""
        return f"--{self.boundary}\r\nContent-Disposition: {disposition}{extra}\r\n\r\n".encode()

    def chunks(self, sent: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The body; ``sent(n)`` after each chunk of ``n`` bytes of the file."""
        yield self.head
        with self.file.open("rb") as source:
            while chunk := source.read(self.CHUNK):
                if sent is not None:
                    sent(len(chunk))
                yield chunk
        yield self.tail
