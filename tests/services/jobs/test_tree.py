"""Working trees: what a client packs (git's files, .gitignore elsewhere) and what the server
agrees to unpack (every hostile archive refused, nothing written outside the job's folder)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from atelier.contract.trees import files_of
from atelier.errors import InvalidInput
from atelier.sdk.tree import find_checkout, pack
from atelier.services.jobs.tree import TreeTooLarge, unpack

Entry = tuple[str, str, bytes | str]  # name, kind (file, dir, link, hard, char, fifo), data


def archive(folder: Path, entries: list[Entry]) -> Path:
    path = folder / "tree.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                info.mode = 0o4755
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "link": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "char": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("link", "hard"):
                assert isinstance(data, str)
                info.linkname = data
            tar.addfile(info)
    return path


HOSTILE: dict[str, tuple[list[Entry], str]] = {
    "dot-dot": ([("../evil.py", "file", b"x")], "paths must stay inside the tree"),
    "dot-dot inside": ([("a/../../evil.py", "file", b"x")], "paths must stay inside the tree"),
    "absolute": ([("/tmp/evil.py", "file", b"x")], "absolute paths are refused"),
    "absolute link": ([("etc", "link", "/etc")], "links are refused"),
    "link up": ([("up", "link", "../..")], "links are refused"),
    # Each link alone stays inside; followed together they would lead out.
    "link chain": (
        [("here", "link", "."), ("deep", "dir", b""), ("out", "link", "here/../..")],
        "links are refused",
    ),
    "through a link": (
        [("sub", "dir", b""), ("d", "link", "sub"), ("d/x.py", "file", b"x")],
        "links are refused",
    ),
    "hard link": ([("a.py", "file", b"x"), ("b.py", "hard", "/etc/passwd")], "links are refused"),
    "device": ([("tty", "char", b"")], "only files and folders"),
    "fifo": ([("pipe", "fifo", b"")], "only files and folders"),
    "twice": ([("a.py", "file", b"x"), ("./a.py", "file", b"y")], "appears twice"),
    "file over folder": ([("a", "file", b"x"), ("a/b.py", "file", b"y")], "a is also a file"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_trees_are_refused_and_leave_nothing(case: str, tmp_path: Path) -> None:
    entries, message = HOSTILE[case]
    source = archive(tmp_path, entries)
    dest = tmp_path / "jail" / "tree"
    dest.parent.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        unpack(source, dest, limit=1 << 20)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_size_limits_and_broken_archives(tmp_path: Path) -> None:
    # A few KB compressed, 5 MB unpacked: cut at the limit, not after.
    bomb = archive(tmp_path, [("zeros.bin", "file", bytes(5_000_000))])
    assert bomb.stat().st_size < 50_000
    with pytest.raises(TreeTooLarge, match=r"larger than 1\.0 MB.*compute\.max_tree_size"):
        unpack(bomb, tmp_path / "a", limit=1_000_000)
    assert not (tmp_path / "a").exists()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar at all")
    with pytest.raises(InvalidInput, match=r"not a tar\.gz archive"):
        unpack(broken, tmp_path / "b", limit=1 << 20)
    with pytest.raises(FileExistsError):
        unpack(bomb, tmp_path, limit=1 << 30)  # never into an existing folder


def test_a_good_tree_keeps_files_and_safe_modes(tmp_path: Path) -> None:
    source = archive(
        tmp_path,
        [
            ("src/pkg/__init__.py", "file", b"X = 1\n"),
            ("run.sh", "file", b"echo hi\n"),
            ("conf", "dir", b""),
        ],
    )
    dest = tmp_path / "tree"
    assert unpack(source, dest, limit=1 << 20) == 2
    assert (dest / "src/pkg/__init__.py").read_text() == "X = 1\n"
    assert (dest / "run.sh").stat().st_mode & 0o7777 == 0o755  # set-uid dropped


def test_pack_keeps_what_git_keeps(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    files = {
        "pyproject.toml": '[project]\nname = "churn"\n',
        ".gitignore": "data/\n*.csv\n!keep.csv\n/top.txt\nsecret*\n",
        "train.py": "print('train')\n",
        "keep.csv": "a\n",
        "big.csv": "a\n",
        "top.txt": "ignored at the top\n",
        "sub/top.txt": "kept below\n",
        "sub/.gitignore": "*.log\n",
        "sub/run.log": "ignored\n",
        "sub/deep/secret.key": "ignored\n",
        "data/raw.parquet": "ignored\n",
        ".venv/bin/python": "never\n",
        "src/pkg/__pycache__/x.pyc": "never\n",
        "src/pkg/__init__.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    expected = [
        ".gitignore",
        "keep.csv",
        "pyproject.toml",
        "src/pkg/__init__.py",
        "sub/.gitignore",
        "sub/top.txt",
        "train.py",
    ]
    assert files_of(root) == expected  # .gitignore rules, no git
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "train.py"], check=True)
    assert files_of(root, git=True) == expected  # git ls-files agrees
    (root / "sub" / "extra.py").write_text("")  # untracked but not ignored: travels
    assert "sub/extra.py" in files_of(root, git=True)
    checkout = find_checkout(root / "sub" / "deep")
    assert checkout is not None and (checkout.root, checkout.project) == (root, "churn")

    packed = pack(root)
    try:
        with tarfile.open(packed.archive) as tar:
            names = sorted(tar.getnames())
        assert names == sorted([*expected, "sub/extra.py"]) and packed.files == len(names)
    finally:
        packed.remove()

    (root / "outside").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="outside links out of the folder"):
        pack(root)
    os.unlink(root / "outside")


def test_which_checkout_a_folder_belongs_to(tmp_path: Path) -> None:
    from atelier.sdk.projects import write_marker

    pulled = tmp_path / "pulled" / "deep"
    pulled.mkdir(parents=True)
    (tmp_path / "pulled" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    write_marker(tmp_path / "pulled", "churn", "http://server", {})
    found = find_checkout(pulled)
    assert found is not None and (found.root, found.project) == (tmp_path / "pulled", "churn")
    workspace_project = tmp_path / "ws" / "projects" / "alpha" / "src"
    workspace_project.mkdir(parents=True)
    (tmp_path / "ws" / "atelier.toml").write_text("")
    found = find_checkout(workspace_project)
    assert found is not None and found.project == "alpha"
    assert found.root == tmp_path / "ws" / "projects" / "alpha"
    (tmp_path / "bare").mkdir()
    assert find_checkout(tmp_path / "bare") is None
