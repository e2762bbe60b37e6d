"""Folders on the wire: which files of a folder travel, and how an archive of them is packed
and unpacked safely. One set of rules for every folder that travels: a job's working tree
(``atelier run``), a project pulled and pushed (``atelier projects pull/push``) and a hosted
app's folder (``atelier apps deploy NAME FOLDER``).

A folder travels as a gzip-compressed tar archive of regular files only. What goes in is what
git would commit: ``git ls-files --cached --others --exclude-standard`` when a client packs a
folder of a git work tree (never on the server: git runs commands that a repository's own
configuration names, such as ``core.fsmonitor``), else the folder's files minus what its
``.gitignore`` files ignore. Version control, virtualenvs, caches and notebook checkpoints
(:data:`NEVER`) never travel.

Links: a symbolic link to a file inside the folder travels as that file (a copy of its
content); a link that leads out of the folder, to a folder, or to nothing is refused with an
error naming it, before anything is sent. A server listing a folder its users write skips
every link and never reads through one.

Unpacking trusts nothing in the archive: every member must be a regular file or a folder with
a relative path that stays inside the destination (no absolute path, no ``..``, no link, no
device, no name twice), and the archive is refused past :data:`MAX_FILES` files,
:data:`MAX_ENTRIES` entries or :data:`MAX_UNPACKED` bytes, before anything is written; nothing
is written through a link of the destination. A server reads at most :data:`MAX_ARCHIVE` bytes
of archive for a project or an app (a job's tree is bounded by ``compute.max_tree_size``).

Both the server and a laptop's light client use this module: stdlib only.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import IO

from atelier.errors import InvalidInput

#: The media type of a tree archive.
TREE_ARCHIVE = "application/gzip"
#: At most this many files in one tree.
MAX_FILES = 20_000
#: At most this many entries (files and folders) in an archive.
MAX_ENTRIES = 2 * MAX_FILES
#: At most this many bytes, all files together, once unpacked.
MAX_UNPACKED = 512 * 1024 * 1024
#: At most this many bytes of archive (compressed), as sent.
MAX_ARCHIVE = 30 * 1024 * 1024
#: Opening a file to pack never follows a link put there since it was checked (and reads
#: bytes as they are on Windows, where ``os.open`` would translate line ends).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
#: Names that never travel, wherever they are in the tree: version control, virtualenvs,
#: caches, notebook checkpoints.
NEVER = frozenset(
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
        "node_modules",
        ".DS_Store",
    }
)


def files_of(
    root: Path, *, skip: Iterable[str] = (), links: str = "inside", git: bool = False
) -> list[str]:
    """The files of ``root`` that travel, as sorted relative POSIX paths.

    ``skip``: more relative paths to leave out (e.g. a marker file). ``links``: ``"inside"``
    (a link to a file inside ``root`` travels as that file; any other link is refused, naming
    it) or ``"skip"`` (every link is left out: a server listing a folder its users write).
    ``git``: ask git when ``root`` is in a work tree; for a client's own checkout only, never
    on a server (git runs commands a repository's own configuration names, ``core.fsmonitor``).
    """
    if links not in ("inside", "skip"):
        raise ValueError(f"links={links!r}: inside or skip")
    root = root.resolve()
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such folder")
    listed = _git_files(root) if git else None
    names = listed if listed is not None else _walk(root)
    skipped = set(skip)
    found: list[str] = []
    for name in names:
        parts = PurePosixPath(name).parts
        if name in skipped or any(part in NEVER for part in parts):
            continue
        path = root / name
        if _has_link(root, parts):
            if links == "skip":
                continue
            check_link(root, name)
        if path.is_file():
            found.append(name)
    return sorted(set(found))


def check_link(root: Path, name: str) -> Path:
    """The file inside ``root`` that the link ``root/name`` leads to, or InvalidInput naming
    the link: one that leads out of ``root``, to a folder or to nothing, or lies under a link
    to a folder."""
    parts = PurePosixPath(name).parts
    if _has_link(root, parts[:-1]):
        raise InvalidInput(
            f"{name} lies under a link to a folder: copy the folder in, or ignore it in .gitignore"
        )
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise InvalidInput(
            f"{name} links out of the folder (to {target}): copy what is needed into the "
            "folder, or ignore the link in .gitignore"
        )
    if not target.is_file():
        what = "a folder" if target.is_dir() else "nothing"
        raise InvalidInput(
            f"{name} is a link to {what}: only links to files inside the folder travel (as "
            "those files); copy the folder in, or ignore the link in .gitignore"
        )
    return target


def _has_link(root: Path, parts: tuple[str, ...]) -> bool:
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def _git_files(root: Path) -> list[str] | None:
    """What git would commit below ``root``; None when ``root`` is not in a git work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        inside = subprocess.run(
            [git, "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            [git, "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return [n for n in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if n]


# -- .gitignore, for folders that are not git work trees ------------------------------------


@dataclass(frozen=True)
class _Rule:
    base: str  # the folder of the .gitignore, relative to the root ("" at the root)
    regex: re.Pattern[str]
    negate: bool
    folders_only: bool
    anchored: bool


def _glob_regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                body = glob[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        elif char == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _rules(text: str, base: str) -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\"):
            line = line[1:]
        folders_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        regex = re.compile(_glob_regex(line) + r"\Z", re.DOTALL)
        rules.append(_Rule(base, regex, negate, folders_only, anchored))
    return rules


def _ignored(rules: list[_Rule], relative: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.folders_only and not is_dir:
            continue
        if rule.base:
            if not relative.startswith(rule.base + "/"):
                continue
            below = relative[len(rule.base) + 1 :]
        else:
            below = relative
        subject = below if rule.anchored else below.rsplit("/", 1)[-1]
        if rule.regex.match(subject):
            ignored = not rule.negate
    return ignored


def _walk(root: Path) -> Iterator[str]:
    def visit(folder: Path, relative: str, inherited: list[_Rule]) -> Iterator[str]:
        rules = inherited
        ignore_file = folder / ".gitignore"
        if ignore_file.is_file() and not ignore_file.is_symlink():
            text = ignore_file.read_text(encoding="utf-8", errors="replace")
            rules = [*inherited, *_rules(text, relative)]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            if entry.name in NEVER:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if _ignored(rules, name, is_dir):
                continue
            if is_dir:
                yield from visit(Path(entry.path), name, rules)
            else:
                yield name

    return visit(root, "", [])


# -- archives ---------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hashes(root: Path, files: Iterable[str]) -> dict[str, str]:
    """``{relative path: sha256}`` of ``files`` below ``root``."""
    return {name: sha256(root / name) for name in files}


def pack(root: Path, files: Iterable[str], out: IO[bytes]) -> None:
    """Write ``files`` (relative paths below ``root``) to ``out`` as a tar.gz archive: regular
    files only, with their executable bit, no owners, no times beyond the modification time.
    A link travels as the file inside ``root`` it leads to (:func:`check_link`, checked again
    here); nothing is read through any other link."""
    root = root.resolve()
    count = 0
    total = 0
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name in files:
            path = root / name
            if _has_link(root, PurePosixPath(name).parts):
                path = check_link(root, name)
            try:
                handle = os.fdopen(os.open(path, _OPEN_FLAGS), "rb")
            except OSError as exc:
                raise InvalidInput(f"{name}: cannot be read ({exc.strerror or exc})") from None
            with handle:
                stat = os.fstat(handle.fileno())
                if not S_ISREG(stat.st_mode):
                    raise InvalidInput(f"{name}: not a regular file")
                count += 1
                total += stat.st_size
                if count > MAX_FILES:
                    raise InvalidInput(f"{root}: more than {MAX_FILES} files to send")
                if total > MAX_UNPACKED:
                    raise InvalidInput(
                        f"{root}: more than {MAX_UNPACKED // 2**20} MiB to send: keep data out "
                        "of the folder (ignore it in .gitignore) and upload it as tables"
                    )
                info = tarfile.TarInfo(name)
                info.size = stat.st_size
                info.mtime = int(stat.st_mtime)
                info.mode = 0o755 if stat.st_mode & 0o100 else 0o644
                archive.addfile(info, handle)


def pack_bytes(root: Path, files: Iterable[str]) -> bytes:
    """The archive of ``files`` in memory, refused past :data:`MAX_ARCHIVE` bytes."""
    buffer = io.BytesIO()
    pack(root, files, buffer)
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE:
        raise InvalidInput(
            f"{root}: the tree is {len(data) // 2**20} MiB compressed, more than the "
            f"{MAX_ARCHIVE // 2**20} MiB allowed: keep data out of it (ignore it in .gitignore)"
        )
    return data


def check_name(name: str) -> str:
    """A member's path as a safe relative POSIX path, or InvalidInput naming it."""
    if not name or "\0" in name or "\\" in name:
        raise InvalidInput(f"archive entry {name!r}: not a valid path")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InvalidInput(f"archive entry {name!r}: absolute paths are refused")
    parts = [p for p in path.parts if p != "."]
    if not parts or ".." in parts:
        raise InvalidInput(f"archive entry {name!r}: paths must stay inside the tree")
    return "/".join(parts)


def read_members(source: IO[bytes]) -> list[tuple[str, tarfile.TarInfo]]:
    """The archive's members after checking every one (see the module's rules)."""
    members: list[tuple[str, tarfile.TarInfo]] = []
    total = 0
    entries = 0
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=source, mode="r:gz") as archive:
            for info in archive:
                entries += 1
                if entries > MAX_ENTRIES:
                    # Folder entries cost nothing to compress: bound them too.
                    raise InvalidInput(f"the archive holds more than {MAX_ENTRIES} entries")
                name = check_name(info.name)
                if info.issym() or info.islnk():
                    raise InvalidInput(f"archive entry {name!r}: links are refused")
                if info.isdir():
                    continue
                if not info.isreg():
                    raise InvalidInput(
                        f"archive entry {name!r}: only files and folders are accepted"
                    )
                if name in seen:
                    raise InvalidInput(f"archive entry {name!r}: appears twice")
                seen.add(name)
                total += info.size
                if len(members) >= MAX_FILES:
                    raise InvalidInput(f"the archive holds more than {MAX_FILES} files")
                if total > MAX_UNPACKED:
                    raise InvalidInput(
                        f"the archive unpacks to more than {MAX_UNPACKED // 2**20} MiB"
                    )
                members.append((name, info))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidInput(f"not a tar.gz archive of a tree ({exc})") from None
    for name in seen:
        for parent in PurePosixPath(name).parents:
            if str(parent) in seen:
                raise InvalidInput(f"archive entry {name!r}: {parent} is also a file")
    return members


def unpack(source: IO[bytes], dest: Path) -> list[str]:
    """Check the whole archive, then write its files below ``dest`` (made if missing),
    replacing files of the same name; returns the files' relative paths.

    A path of ``dest`` that is a link, or a folder where the archive has a file, is refused
    before it is written through."""
    members = read_members(source)
    source.seek(0)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for name, _ in members:
        target_inside(root, name)
    with tarfile.open(fileobj=source, mode="r:gz") as archive:
        wanted = dict(members)
        for info in archive:
            name = check_name(info.name)
            if name not in wanted:
                continue
            extracted = archive.extractfile(info)
            if extracted is None:  # pragma: no cover - regular files always have data
                continue
            write_file(root, name, extracted, executable=bool(info.mode & 0o100))
    return [name for name, _ in members]


def target_inside(root: Path, name: str) -> Path:
    """``root/name`` once sure that no part of it is a link and it is not a folder."""
    path = root
    parts = PurePosixPath(name).parts
    for i, part in enumerate(parts):
        path = path / part
        if path.is_symlink():
            raise InvalidInput(f"{name}: {path.relative_to(root)} is a link; refusing to write")
        if i < len(parts) - 1 and path.exists() and not path.is_dir():
            raise InvalidInput(f"{name}: {path.relative_to(root)} is a file, not a folder")
    if path.is_dir():
        raise InvalidInput(f"{name}: a folder of that name is in the way")
    return path


def write_file(root: Path, name: str, data: IO[bytes], *, executable: bool = False) -> None:
    """Write ``data`` to ``root/name`` through a temporary file renamed into place."""
    target = target_inside(root, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    with temporary.open("wb") as handle:
        shutil.copyfileobj(data, handle)
    temporary.chmod(0o755 if executable else 0o644)
    os.replace(temporary, target)
