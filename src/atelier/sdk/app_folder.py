"""An app's folder, packed on the client to travel as one gzip-compressed tar archive.

What travels: the folder's files, as plain files, under their relative paths. What does not:
version control, virtualenvs and caches (:data:`SKIPPED`), and what the folder's root
``.gitignore`` names with simple patterns (``name``, ``*.csv``, ``data/``, ``/build``,
``docs/*.md``, ``**/tmp``, ``!keep.csv``: the last matching pattern decides). A link to a file
inside the folder travels as that file; a link out of the folder, or to a folder, is an error
that names it, before anything is sent. The server unpacks the archive as hostile whatever
the client did (:mod:`atelier.services.apps.bundle`).

Only the standard library and the wire contract: a laptop's light client packs folders too.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from atelier.contract.apps import MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES
from atelier.errors import InvalidInput

#: Never packed: version control, virtualenvs, caches, notebook checkpoints.
SKIPPED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        ".ipynb_checkpoints",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".DS_Store",
        "node_modules",
    }
)
#: Entry scripts looked for, in order, when none is named.
ENTRIES = ("app.py", "streamlit_app.py", "main.py")


def default_entry(folder: Path) -> str:
    """The script a folder's app runs when none is named."""
    for name in ENTRIES:
        if (folder / name).is_file():
            return name
    scripts = sorted(p.name for p in folder.glob("*.py") if p.is_file())
    if len(scripts) == 1:
        return scripts[0]
    found = ", ".join(scripts) or "none"
    raise InvalidInput(
        f"{folder}: which script runs the app? name it with entry= (--entry); "
        f"its top-level scripts: {found}"
    )


def pack(
    folder: Path, *, max_bytes: int = MAX_BUNDLE_BYTES, max_files: int = MAX_BUNDLE_FILES
) -> bytes:
    """``folder`` as a gzip-compressed tar archive of its files (see the module's text)."""
    buffer = io.BytesIO()
    total = 0
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for relative, path in walk(folder):
            count += 1
            if count > max_files:
                raise InvalidInput(f"{folder}: more than {max_files} files to ship")
            size = path.stat().st_size
            total += size
            if total > max_bytes:
                raise InvalidInput(
                    f"{folder}: over {max_bytes // 1_000_000} MB to ship; leave data out "
                    "(.gitignore) and read it from the warehouse"
                )
            info = tarfile.TarInfo(relative)
            info.size = size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = int(path.stat().st_mtime)
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def walk(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(relative POSIX path, file)`` for every file to ship, in a stable order."""
    root = folder.resolve()
    ignore = Ignore.read(folder / ".gitignore")
    for current, dirs, files in os.walk(folder, followlinks=False):
        here = Path(current)
        base = PurePosixPath(here.relative_to(folder).as_posix())
        kept = []
        for name in sorted(dirs):
            path = here / name
            relative = (base / name).as_posix().removeprefix("./")
            if name in SKIPPED or ignore.ignored(relative, directory=True):
                continue
            if path.is_symlink():
                _check_link(path, root, relative)
                raise InvalidInput(
                    f"{path}: a link to a folder; links to files are packed as those files, "
                    "copy the folder in or leave it out (.gitignore)"
                )
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            relative = (base / name).as_posix().removeprefix("./")
            if name in SKIPPED or ignore.ignored(relative, directory=False):
                continue
            path = here / name
            if path.is_symlink():
                _check_link(path, root, relative)
            if not path.is_file():
                continue  # sockets, FIFOs, devices, links to nothing
            yield relative, path


def _check_link(path: Path, root: Path, relative: str) -> None:
    target = path.resolve()
    if target != root and root not in target.parents:
        raise InvalidInput(
            f"{relative} links out of the folder (to {target}): copy what the app needs into "
            "the folder, or leave the link out (.gitignore)"
        )


class Ignore:
    """The simple patterns of a ``.gitignore``: ``name``, ``*.csv``, ``data/``, ``/build``,
    ``docs/*.md``, ``**/tmp``, and ``!keep.csv`` (the last matching pattern decides)."""

    def __init__(self, patterns: Sequence[tuple[str, bool, bool, bool]]) -> None:
        #: (pattern, negated, directories only, anchored to the root)
        self.patterns = [(_glob(p), n, d, a) for p, n, d, a in patterns]

    @classmethod
    def read(cls, path: Path) -> Ignore:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls([])
        patterns = []
        for line in text.splitlines():
            line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated or line.startswith("\\") else line
            directory = line.endswith("/")
            line = line.rstrip("/")
            if line.startswith("**/"):  # at any depth: as a pattern without a slash
                line = line[3:]
            anchored = "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            patterns.append((line, negated, directory, anchored))
        return cls(patterns)

    def ignored(self, relative: str, *, directory: bool) -> bool:
        found = False
        name = relative.rsplit("/", 1)[-1]
        for pattern, negated, only_dirs, anchored in self.patterns:
            if only_dirs and not directory:
                continue
            if pattern.fullmatch(relative if anchored else name):
                found = not negated
        return found


def _glob(pattern: str) -> re.Pattern[str]:
    """A .gitignore glob as a regular expression: ``*`` and ``?`` stay within one folder
    name, ``**`` crosses folders, ``[...]`` is a class."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))
