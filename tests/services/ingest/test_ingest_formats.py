"""Format and encoding detection, and transcoding to UTF-8."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.services.ingest.formats import detect_encoding, detect_format, transcode


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.TSV", "tsv"),
        ("a.txt", "csv"),
        ("a.parquet", "parquet"),
        ("a.ndjson", "json"),
        ("a.jsonl", "json"),
        ("a.xlsx", "xlsx"),
        ("a.arrows", "arrow"),
        ("a.csv.gz", "csv"),
        ("a.json.gz", "json"),
    ],
)
def test_formats_by_extension(tmp_path: Path, name: str, expected: str) -> None:
    assert detect_format(tmp_path / name, None) == expected


def test_formats_by_content_without_extension(tmp_path: Path) -> None:
    cases = {b"PAR1xxxx": "parquet", b"PK\x03\x04": "xlsx", b"  [{}]": "json", b"a,b\n": "csv"}
    for content, expected in cases.items():
        (tmp_path / "data").write_bytes(content)
        assert detect_format(tmp_path / "data", None) == expected
    assert detect_format(tmp_path / "x.bin", "csv") == "csv"


def test_unsupported_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^a.pdf: unsupported file type '.pdf': upload CSV"):
        detect_format(tmp_path / "a.pdf", None)
    with pytest.raises(InvalidInput, match=r"compressed files are supported for CSV"):
        detect_format(tmp_path / "a.parquet.gz", None)


def test_encodings_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    cases = [
        ("a,b\nJosé,1\n".encode(), "utf-8"),
        ("a\nJosé\n".encode("utf-8-sig"), "utf-8"),
        ("a\nJosé\n".encode("utf-16"), "utf-16-le"),
        (b"\xfe\xff" + "a\nJosé\n".encode("utf-16-be"), "utf-16-be"),
        ("a,b\nJosé,1\n".encode("utf-16-le"), "utf-16-le"),
        ("a\nprice: 3 €\n".encode("cp1252"), "cp1252"),
        (b"a\n\x81\x8d\x8f\n", "latin-1"),
        (b"a\nJos\xc3\xa9\ncaf\xe9\n", "utf-8"),
        (b"plain ascii\n", "utf-8"),
    ]
    for data, expected in cases:
        path.write_bytes(data)
        assert detect_encoding(path) == expected, data


def test_transcoding_streams_and_reports_bad_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("a\nÜber\n".encode("cp1252") * 3)
    transcode(source, "cp1252", tmp_path / "out.csv", "in.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "a\nÜber\n" * 3
    source.write_bytes(b"a\nok\n\xff\xfe\n")
    with pytest.raises(InvalidInput, match=r"in.csv: line 3: bytes that are not valid shift_jis"):
        transcode(source, "shift_jis", tmp_path / "out.csv", "in.csv")
