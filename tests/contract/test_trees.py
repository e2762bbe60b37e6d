"""Which files of a folder travel (git's own list, the same from .gitignore rules alone, links),
and what an archive of them may hold."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from atelier.contract.trees import files_of, pack, unpack
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
    assert files_of(root, git=True) == EXPECTED
    # Committed files travel even when ignored later; deleted ones do not.
    subprocess.run(["git", "-C", str(root), "add", "-f", "data.csv", "sub/main.py"], check=True)
    (root / "sub" / "main.py").unlink()
    assert "data.csv" in files_of(root, git=True) and "sub/main.py" not in files_of(root, git=True)
    # A folder inside the work tree sends its own part, with paths relative to it.
    assert files_of(root / "src", git=True) == ["build/kept.py", "pkg/__init__.py"]
    # Without git=True (a server), git is never asked: .gitignore rules alone.
    assert "data.csv" not in files_of(root)


def test_links_inside_travel_as_files_others_are_refused_or_skipped(tmp_path: Path) -> None:
    root = make(tmp_path / "root")
    (tmp_path / "secret.txt").write_text("not yours")
    (root / "alias.txt").symlink_to("keep.csv")  # to a file inside: travels as that file
    (root / "src" / "pkg" / "up.py").symlink_to("../../sub/main.py")
    assert {"alias.txt", "src/pkg/up.py"} <= set(files_of(root))
    buffer = io.BytesIO()
    (root / "keep.csv").write_text("kept\n")
    pack(root, ["alias.txt", "src/pkg/up.py"], buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert all(m.isreg() for m in members.values())
        data = tar.extractfile(members["alias.txt"])
        assert data is not None and data.read() == b"kept\n"

    for name, target, message in (
        ("etc", Path("/etc"), "etc links out of the folder"),
        ("leak.txt", tmp_path / "secret.txt", "leak.txt links out of the folder"),
        ("srclink", root / "src", "srclink is a link to a folder"),
        ("dangling", root / "missing", "dangling is a link to nothing"),
    ):
        (root / name).symlink_to(target)
        with pytest.raises(InvalidInput, match=message):
            files_of(root)
        with pytest.raises(InvalidInput, match=message):
            pack(root, [name], io.BytesIO())  # checked again when read
        # A server skips every link, and reads through none.
        assert name not in files_of(root, links="skip")
        (root / name).unlink()
    assert "alias.txt" not in files_of(root, links="skip")
    # Ignored links are never looked at.
    (root / "build" / "out").symlink_to("/etc")
    assert "build/out" not in files_of(root)


def test_never_travels(tmp_path: Path) -> None:
    for name in ("node_modules/x.js", "venv/bin/python", ".mypy_cache/x", "a/.DS_Store", "ok.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert files_of(tmp_path) == ["ok.py"]


def test_unpack_refuses_what_a_packer_never_makes(tmp_path: Path) -> None:
    def archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        buffer.seek(0)
        return buffer

    def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        info.size = 1 if kind == tarfile.REGTYPE else 0
        return info, b"x" if kind == tarfile.REGTYPE else None

    for members, message in (
        ([member("../x")], "stay inside"),
        ([member("/x")], "absolute"),
        ([member("C:/x")], "absolute"),
        ([member("l", tarfile.SYMTYPE, "/etc")], "links are refused"),
        ([member("h", tarfile.LNKTYPE, "x")], "links are refused"),
        ([member("d", tarfile.CHRTYPE)], "only files and folders"),
        ([member("a"), member("./a")], "appears twice"),
        ([member("a"), member("a/b")], "a is also a file"),
    ):
        dest = tmp_path / "dest"
        with pytest.raises(InvalidInput, match=message):
            unpack(archive(*members), dest)
        assert not dest.exists() or list(dest.iterdir()) == []
    with pytest.raises(InvalidInput, match=r"not a tar\.gz archive"):
        unpack(io.BytesIO(b"PK\x03\x04"), tmp_path / "dest")
    # Never written through a link of the destination.
    dest = tmp_path / "linked"
    dest.mkdir()
    (dest / "out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidInput, match="is a link; refusing to write"):
        unpack(archive(member("out/x")), dest)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_runs_only_when_asked(tmp_path: Path) -> None:
    # A repository's configuration names commands git runs (core.fsmonitor): a server lists
    # folders its users write without git, so none of them ever runs there.
    root = make(tmp_path / "repo")
    ran = tmp_path / "ran"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        ["git", "-C", str(root), "config", "core.fsmonitor", f"touch {ran}; false"], check=True
    )
    assert files_of(root) == EXPECTED and files_of(root, links="skip") == EXPECTED
    assert not ran.exists()
    files_of(root, git=True)  # a client's own checkout: git is asked (and runs its hook)
    assert ran.exists()


def test_an_archive_of_endless_folders_is_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atelier.contract import trees

    monkeypatch.setattr(trees, "MAX_ENTRIES", 50)  # 40,000 in earnest
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(51):
            info = tarfile.TarInfo(f"d{i}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
    buffer.seek(0)
    with pytest.raises(InvalidInput, match="more than 50 entries"):
        unpack(buffer, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_limits_on_both_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atelier.contract import trees

    monkeypatch.setattr(trees, "MAX_FILES", 2)
    monkeypatch.setattr(trees, "MAX_UNPACKED", 1000)
    monkeypatch.setattr(trees, "MAX_ARCHIVE", 100)
    for name, size in (("a", 10), ("b", 10), ("c", 10), ("zeros", 5000)):
        (tmp_path / name).write_bytes(bytes(size))
    # Packing refuses what unpacking would: too many files, too many bytes, too large.
    with pytest.raises(InvalidInput, match="more than 2 files"):
        trees.pack(tmp_path, ["a", "b", "c"], io.BytesIO())
    with pytest.raises(InvalidInput, match="more than 0 MiB to send"):
        trees.pack(tmp_path, ["zeros"], io.BytesIO())
    (tmp_path / "noise").write_bytes(os.urandom(500))
    with pytest.raises(InvalidInput, match="compressed, more than"):
        trees.pack_bytes(tmp_path, ["noise"])
    # A hand-made archive past the limits is refused before anything is written: a few
    # bytes compressed, 5000 unpacked.
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as tar:
        tar.add(tmp_path / "zeros", "zeros")
    bomb.seek(0)
    with pytest.raises(InvalidInput, match="unpacks to more than"):
        trees.unpack(bomb, tmp_path / "dest")
    many = io.BytesIO()
    with tarfile.open(fileobj=many, mode="w:gz") as tar:
        for name in ("a", "b", "c"):
            tar.add(tmp_path / name, name)
    many.seek(0)
    with pytest.raises(InvalidInput, match="more than 2 files"):
        trees.unpack(many, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
