"""What a file is: its format (by extension, then by content) and, for text, its encoding.

DuckDB reads UTF-8, UTF-16 (little endian) and Latin-1 itself. Any other encoding (cp1252 from
Excel on Windows, UTF-16 big endian, Shift-JIS…) is transcoded to UTF-8 in one streaming pass
into a work file, so that memory use stays flat and line numbers stay the same.
"""

from __future__ import annotations

import codecs
import gzip
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

from atelier.errors import InvalidInput

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
_COMPRESSED = (".gz",)
SUPPORTED = "CSV, TSV, Parquet, JSON/NDJSON, Excel (.xlsx) or Arrow IPC"

#: Bytes read to guess an encoding; DuckDB reports any bad byte after it with its line.
SAMPLE_BYTES = 1 << 20
#: Encodings DuckDB reads without help (Python codec name -> DuckDB name).
NATIVE = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "utf-16-le": "utf-16",
    "latin-1": "latin-1",
    "iso8859-1": "latin-1",
}
# A well-formed multi-byte UTF-8 sequence: its presence says "UTF-8 with a few bad bytes"
# rather than "a single-byte encoding".
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def is_compressed(path: Path) -> bool:
    return path.suffix.lower() in _COMPRESSED


def detect_format(path: Path, declared: str | None) -> str:
    """``declared`` if given, else the format its extension names; content decides only for
    files without an extension (the API's Arrow bodies, a file saved as ``data``)."""
    if declared:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
        if suffixes and _EXTENSIONS.get(suffixes[-1]) in ("csv", "tsv", "json"):
            return _EXTENSIONS[suffixes[-1]]
        raise InvalidInput(
            f"{path.name}: compressed files are supported for CSV, TSV and JSON only "
            "(e.g. data.csv.gz)"
        )
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix == ".xls":
        raise InvalidInput(
            f"{path.name}: the old Excel format (.xls) is not supported: save it as .xlsx or CSV"
        )
    if suffix:
        raise InvalidInput(f"{path.name}: unsupported file type {suffix!r}: upload {SUPPORTED}")
    return _sniff_content(path)


def _sniff_content(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "json"
    return "csv"


#: What a file that is not text starts with, and what to tell its uploader.
_COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed", "name it {stem}.gz to load it as it is, or decompress it"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it (zstd -d) and upload the CSV"),
    (b"BZh", "bzip2-compressed", "decompress it (bunzip2) and upload the CSV"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (unxz) and upload the CSV"),
    (
        b"PK\x03\x04",
        "a zip archive (or an Excel workbook)",
        "unpack it and upload the CSV inside, or name an Excel workbook .xlsx",
    ),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it and upload the CSV inside"),
)
_BINARY_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"SQLite format 3", "a SQLite database"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls/.doc)"),
)
#: Control characters (besides tab, newline, carriage return, form feed) that text hardly has.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def check_text(path: Path, label: str, encoding: str) -> None:
    """Refuse a file given as CSV/TSV that is not text: a compressed file or archive named
    ``.csv`` (named for what it is, with what to do), an image, a database, or bytes that no
    text has (NUL, control characters), so that it never loads as a table of garbage or of no
    rows."""
    with open_bytes(path) as file:
        head = file.read(SAMPLE_BYTES)
    stem = Path(label).name
    for magic, what, todo in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            raise InvalidInput(f"{label}: the file is {what}, not text: {todo.format(stem=stem)}")
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise InvalidInput(
                f"{label}: the file is {what}, not CSV text: upload {SUPPORTED} "
                "(the format comes from the extension)"
            )
    if encoding.replace("_", "-").startswith("utf-16"):
        return
    controls = sum(head.count(bytes([c])) for c in _CONTROL)
    if b"\x00" in head or controls > max(8, len(head) // 100):
        where = head.find(b"\x00")
        at = f" (a NUL byte at byte {where + 1})" if where >= 0 else ""
        raise InvalidInput(
            f"{label}: the file holds binary data, not text{at}: upload {SUPPORTED}, "
            "or give the text's encoding if it is UTF-16"
        )


def check_readable(path: Path, label: str) -> None:
    """Refuse a missing, unreadable or empty file with a message naming it."""
    if not path.exists():
        raise InvalidInput(f"{label}: no such file")
    if not path.is_file():
        raise InvalidInput(f"{label}: not a file")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as error:
        raise InvalidInput(f"{label}: cannot be read ({error.strerror or error})") from None
    if size == 0:
        raise InvalidInput(f"{label}: the file is empty")


@contextmanager
def open_bytes(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed if it is gzipped."""
    if is_compressed(path):
        with gzip.open(path, "rb") as file:
            yield cast(IO[bytes], file)
    else:
        with path.open("rb") as file:
            yield file


def detect_encoding(path: Path) -> str:
    """A Python codec name for the text in ``path``, from a byte-order mark or a sample.

    Without a mark: UTF-8 if the sample decodes (or mostly does: a few bad bytes in an
    otherwise UTF-8 file are reported as errors, not read as another encoding), UTF-16 LE if
    every other byte is zero, else cp1252 (Excel on Windows) or, failing that, Latin-1.
    """
    try:
        with open_bytes(path) as file:
            sample = file.read(SAMPLE_BYTES)
    except (OSError, EOFError) as error:
        raise InvalidInput(f"{path.name}: cannot be decompressed ({error})") from None
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    odd = sample[1:200:2]
    if len(odd) > 8 and odd.count(0) == len(odd) and sample[0:200:2].count(0) == 0:
        return "utf-16-le"
    try:
        # A multi-byte character may be cut at the end of the sample: allow 3 bytes of it.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(sample):
        return "utf-8"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def resolve_encoding(path: Path, declared: str | None) -> str:
    """The declared encoding (with "utf-16" made precise by the byte-order mark), or the
    detected one."""
    if declared is None:
        return detect_encoding(path)
    if declared == "utf-16":
        with open_bytes(path) as file:
            return "utf-16-be" if file.read(2) == codecs.BOM_UTF16_BE else "utf-16-le"
    return declared


def native_encoding(encoding: str) -> str | None:
    """DuckDB's name for ``encoding`` if DuckDB reads it itself, else None."""
    return NATIVE.get(codecs.lookup(encoding).name)


def transcode(path: Path, encoding: str, target: Path, label: str) -> None:
    """Rewrite ``path`` from ``encoding`` to UTF-8 at ``target``, chunk by chunk; a byte that
    is not valid in ``encoding`` is reported with its line."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with open_bytes(path) as source, target.open("w", encoding="utf-8", newline="") as out:
        first = True
        while True:
            chunk = source.read(1 << 20)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                good = chunk[: max(0, error.start)].decode(encoding, errors="replace")
                raise InvalidInput(
                    f"{label}: line {line + good.count(chr(10))}: bytes that are not valid "
                    f"{encoding}: give the file's encoding (e.g. utf-8, cp1252, latin-1)"
                ) from None
            if first:
                text = text.lstrip("\ufeff")
                first = False
            out.write(text)
            line += text.count("\n")
            if not chunk:
                break
