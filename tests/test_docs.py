"""Docs that tests keep honest."""

from pathlib import Path

from atelier.cli.reference import render
from atelier.config.settings import SECTIONS

DOCS = Path(__file__).parent.parent / "docs"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == render(), "run `make docs`"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for section, model in SECTIONS.items():
        assert f"## `[{section}]`" in text
        for key in model.model_fields:
            assert f"| `{key}` |" in text, f"{section}.{key} is not in docs/configuration.md"
