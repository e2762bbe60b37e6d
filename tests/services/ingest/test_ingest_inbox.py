"""Received files: kept by id for their sender only, swept after a day."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from atelier.errors import InvalidInput, NotFound
from atelier.services.ingest import Inbox
from atelier.services.ingest.inbox import safe_filename


def test_new_get_discard(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "in")
    received = inbox.new("../../etc/passwd", "ada")
    assert received.path.parent.parent == tmp_path / "in"
    assert received.name == "passwd"
    received.path.write_text("a\n1\n")
    assert inbox.get(received.id, "ada") == received
    with pytest.raises(NotFound):
        inbox.get(received.id, "bob")
    with pytest.raises(InvalidInput, match="upload id"):
        inbox.get("../x", "ada")
    inbox.discard(received.id)
    with pytest.raises(NotFound, match="send the file again"):
        inbox.get(received.id, "ada")


def test_old_files_are_swept(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "in", max_age_seconds=60)
    old = inbox.new("a.csv", "ada")
    old.path.write_text("x")
    past = time.time() - 120
    os.utime(old.path.parent, (past, past))
    fresh = inbox.new("b.csv", "ada")
    fresh.path.write_text("y")
    assert not old.path.parent.exists()
    assert inbox.get(fresh.id, "ada").path.read_text() == "y"


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("C:\\Users\\ada\\sales 2024.csv", "sales 2024.csv"),
        ("", "upload"),
        ("..", "upload"),
        ("a;rm -rf $(x).csv", "a_rm -rf _x_.csv"),
        (".hidden", "hidden"),
    ],
)
def test_safe_filenames(given: str, safe: str) -> None:
    assert safe_filename(given) == safe
