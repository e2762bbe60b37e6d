"""The reading options for ragged rows and decimal commas: parsed, shown in the preview,
honoured by the upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.services.ingest import Ingest
from atelier.services.ingest.options import Options
from tests.services.ingest.conftest import write


def test_options_parse_ragged_and_decimal() -> None:
    assert Options.parse(None).ragged == "error" and Options.parse(None).decimal is None
    parsed = Options.parse({"ragged": "PAD", "decimal": "comma"})
    assert (parsed.ragged, parsed.decimal) == ("pad", ",")
    assert parsed.as_dict() == {"ragged": "pad", "decimal": ","}
    assert Options.parse({"ragged": "error"}).as_dict() == {}


@pytest.mark.parametrize(
    ("options", "match"),
    [({"ragged": "fill"}, "option ragged 'fill'"), ({"decimal": ";"}, "option decimal ';'")],
)
def test_bad_values_are_refused(options: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        Options.parse(options)


def test_the_preview_shows_the_choices(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "a;b\n1;2,5\n2\n")
    preview = ingest.detect(path, options={"ragged": "pad"})
    assert preview.options["ragged"] == "pad" and preview.options["decimal"] == ","
    assert preview.rows == [["1", "2.5"], ["2", None]]


def test_an_explicit_decimal_point_is_kept(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "a;b\n1;2,5\n")
    ingest.upload(path, "kept", by="ada", options={"decimal": "."})
    assert ingest.warehouse.read("kept").to_pylist() == [{"a": 1, "b": "2,5"}]


def test_skip_reports_how_many_rows_were_left_out(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "a,b\n1,2\n3\n4,5,6\n7,8\n")
    result = ingest.upload(path, "s", by="ada", options={"ragged": "skip"})
    assert result.as_dict()["skipped"] == 2 and result.rows == 2
