"""Which files of a folder travel: git's own list, and the same from .gitignore rules alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from atelier.contract.trees import files_of
from atelier.errors import InvalidInput

TREE = {
    ".gitignore": "*.csv\n!keep.csv\n/build/\nlogs/\ndocs/**/*.tmp\n\\#notes\nsecret?.txt\n",
    "keep.csv": "",
    "data.csv": "",
    "src/pkg/__init__.py": "",
    "src/pkg/x.csv": "",
    "src/build/kept.py": "",
    "build/out.bin": "",
    "src/logs/run.log": "",
    "docs/a/b/c.tmp": "",
    "docs/a/b/c.md": "",
    "#notes": "",
    "secret1.txt": "",
    "secret12.txt": "",
    "sub/.gitignore": "*.py\n!main.py\n",
    "sub/main.py": "",
    "sub/other.py": "",
    ".venv/bin/python": "",
    "src/pkg/__pycache__/m.pyc": "",
    ".ipynb_checkpoints/a.ipynb": "",
}
EXPECTED = [
    ".gitignore",
    "docs/a/b/c.md",
    "keep.csv",
    "secret12.txt",
    "src/build/kept.py",
    "src/pkg/__init__.py",
    "sub/.gitignore",
    "sub/main.py",
]


def make(root: Path) -> Path:
    for name, content in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    return root


def test_gitignore_rules_without_git(tmp_path: Path) -> None:
    assert files_of(make(tmp_path)) == EXPECTED


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_work_tree_sends_what_git_would_commit(tmp_path: Path) -> None:
    root = make(tmp_path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert files_of(root) == EXPECTED
    # Committed files travel even when ignored later; deleted ones do not.
    subprocess.run(["git", "-C", str(root), "add", "-f", "data.csv", "sub/main.py"], check=True)
    (root / "sub" / "main.py").unlink()
    assert "data.csv" in files_of(root) and "sub/main.py" not in files_of(root)
    # A folder inside the work tree sends its own part, with paths relative to it.
    assert files_of(root / "src") == ["build/kept.py", "pkg/__init__.py"]


def test_links_are_refused_or_skipped(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "etc").symlink_to("/etc")
    with pytest.raises(InvalidInput, match="etc is a symbolic link"):
        files_of(root)
    assert "etc" not in files_of(root, links="skip")
