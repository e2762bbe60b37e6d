"""A job's working tree on the client's side: which checkout a folder belongs to, and its
files packed to travel with the job (:mod:`atelier.contract.trees` decides which files: git's
list, else ``.gitignore`` rules; never ``.git``, ``.venv``, ``__pycache__``; a link to a file
inside the folder as that file, any other link refused).

The archive is written to a temporary file and streamed from there, never held in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.contract.projects import MARKER
from atelier.contract.trees import files_of
from atelier.contract.trees import pack as pack_files
from atelier.errors import InvalidInput


@dataclass(frozen=True)
class Packed:
    """A packed tree: the archive, and what is in it."""

    archive: Path
    root: Path
    files: int
    size: int

    def remove(self) -> None:
        self.archive.unlink(missing_ok=True)


@dataclass(frozen=True)
class Checkout:
    """A folder that holds a project's files: its root and the project's name, if known."""

    root: Path
    project: str | None


def find_checkout(start: Path) -> Checkout | None:
    """The nearest folder at or above ``start`` that holds a project: a pulled project (its
    ``.atelier-project`` marker), a workspace's ``projects/NAME/`` folder, or a folder with a
    ``pyproject.toml`` (the project named there)."""
    here = start.resolve()
    marker = find_marker(here)
    if marker is not None:
        return Checkout(marker.parent, str(read_marker(marker)["project"]))
    for folder in (here, *here.parents):
        parent = folder.parent
        if (
            parent.name == "projects"
            and not folder.name.startswith(".")
            and (parent.parent / "atelier.toml").is_file()
        ):
            return Checkout(folder, folder.name)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return Checkout(folder, _pyproject_name(pyproject))
    return None


def find_marker(start: Path) -> Path | None:
    """The marker of the pulled project holding ``start``, if any."""
    for folder in (start, *start.parents):
        marker = folder / MARKER
        if marker.is_file():
            return marker
    return None


def read_marker(marker: Path) -> dict[str, Any]:
    """A pulled project's marker: its ``project``, ``origin`` and the ``files`` as pulled."""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{marker}: not readable ({exc}); pull the project again") from None
    if not isinstance(data, dict) or not isinstance(data.get("project"), str):
        raise InvalidInput(f"{marker}: not a pulled project's marker; pull the project again")
    return data


def _pyproject_name(path: Path) -> str | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def pack(root: Path | str) -> Packed:
    """Pack ``root``'s travelling files into a temporary ``.tar.gz`` (remove it once sent)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise InvalidInput(f"working tree {root}: no such folder")
    files = files_of(root, skip=(MARKER,), git=True)
    handle, name = tempfile.mkstemp(prefix="atelier-tree-", suffix=".tar.gz")
    archive = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            pack_files(root, files, out)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    size = sum((root / f).stat().st_size for f in files)
    return Packed(archive, root, len(files), size)


__all__ = ["Checkout", "Packed", "find_checkout", "find_marker", "pack", "read_marker"]
