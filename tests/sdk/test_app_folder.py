"""Packing an app's folder on the client: what travels, what the .gitignore leaves out."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.sdk.app_folder import default_entry, pack, walk


def test_simple_gitignore_patterns(tmp_path: Path) -> None:
    files = [
        "app.py",
        "build/out.txt",
        "src/build/keep.py",
        "logs/a.log",
        "keep.log",
        "other.log",
        "docs/guide.md",
        "docs/deep/notes.md",
        "cache/tmp/x.py",
        "node_modules/x.js",
        ".venv/bin/python",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".gitignore").write_text(
        "# comment\n/build\n*.log\n!keep.log\ndocs/*.md\n**/tmp\nlogs/\n"
    )
    assert sorted(relative for relative, _ in walk(tmp_path)) == [
        ".gitignore",
        "app.py",
        "docs/deep/notes.md",
        "keep.log",
        "src/build/keep.py",
    ]
    with tarfile.open(fileobj=io.BytesIO(pack(tmp_path)), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == sorted(r for r, _ in walk(tmp_path))
    assert all(m.isreg() and m.uid == 0 and not m.uname for m in members.values())


def test_limits_and_entries(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("x" * 100)
    assert default_entry(tmp_path) == "one.py"
    (tmp_path / "two.py").write_text("y")
    with pytest.raises(InvalidInput, match="which script runs the app"):
        default_entry(tmp_path)
    (tmp_path / "main.py").write_text("z")
    assert default_entry(tmp_path) == "main.py"
    with pytest.raises(InvalidInput, match="over 0 MB to ship"):
        pack(tmp_path, max_bytes=50)
    with pytest.raises(InvalidInput, match="more than 2 files"):
        pack(tmp_path, max_files=2)
    (tmp_path / "shared").symlink_to(tmp_path.parent)
    with pytest.raises(InvalidInput, match="shared links out of the folder"):
        pack(tmp_path)
