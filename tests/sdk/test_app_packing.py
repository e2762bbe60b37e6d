"""An app's folder packed on the client: the same rules as every folder that travels
(:mod:`atelier.contract.trees`), the app's script among its files."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from atelier.contract.projects import MARKER
from atelier.errors import InvalidInput
from atelier.sdk.apps import default_entry, pack_folder


def names(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_what_travels_with_an_app(tmp_path: Path) -> None:
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
        "pages/.gitignore",
        "pages/1_a.py",
        "pages/draft.py",
        MARKER,
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".gitignore").write_text(
        "# comment\n/build\n*.log\n!keep.log\ndocs/*.md\n**/tmp\nlogs/\n"
    )
    (tmp_path / "pages" / ".gitignore").write_text("draft.py\n")  # nested rules count too
    (tmp_path / "same.py").symlink_to("app.py")  # a link inside: travels as the file
    members = names(pack_folder(tmp_path, "app.py"))
    assert sorted(members) == [
        ".gitignore",
        "app.py",
        "docs/deep/notes.md",
        "keep.log",
        "pages/.gitignore",
        "pages/1_a.py",
        "same.py",
        "src/build/keep.py",
    ]
    assert all(m.isreg() and m.uid == 0 and not m.uname for m in members.values())
    assert members["same.py"].size == len("app.py")

    # The script must travel; links out of the folder or to folders are refused, naming them.
    with pytest.raises(InvalidInput, match=r"'other\.log' is not in the folder"):
        pack_folder(tmp_path, "other.log")
    (tmp_path / "shared").symlink_to(tmp_path.parent)
    with pytest.raises(InvalidInput, match="shared links out of the folder"):
        pack_folder(tmp_path, "app.py")
    (tmp_path / "shared").unlink()
    (tmp_path / "lib").symlink_to(tmp_path / "src")
    with pytest.raises(InvalidInput, match="lib is a link to a folder"):
        pack_folder(tmp_path, "app.py")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_folder_in_a_git_checkout_sends_what_git_would_commit(tmp_path: Path) -> None:
    folder = tmp_path / "apps" / "explorer"
    folder.mkdir(parents=True)
    (tmp_path / ".gitignore").write_text("*.parquet\n")  # the checkout's rules, above
    (folder / "app.py").write_text("import streamlit\n")
    (folder / "data.parquet").write_text("x")
    (folder / "lookup.parquet").write_text("x")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "add", "-f", "apps/explorer/lookup.parquet"], check=True
    )
    assert sorted(names(pack_folder(folder, "app.py"))) == ["app.py", "lookup.parquet"]


def test_default_entry(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("x")
    assert default_entry(tmp_path) == "one.py"
    (tmp_path / "two.py").write_text("y")
    with pytest.raises(InvalidInput, match="which script runs the app"):
        default_entry(tmp_path)
    (tmp_path / "main.py").write_text("z")
    assert default_entry(tmp_path) == "main.py"
