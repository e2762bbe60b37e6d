"""A hosted app's folder, received as one gzip-compressed tar archive, unpacked safely.

The archive comes from anyone who may deploy an app, so it is read as hostile: every member
must be a plain file or a folder under a relative path without ``..``; links (symbolic or
hard), devices and FIFOs are refused, as are absolute paths, a name given twice, and more
than :data:`~atelier.contract.apps.MAX_BUNDLE_FILES` files or
:data:`~atelier.contract.apps.MAX_BUNDLE_BYTES` bytes once unpacked (counted as the bytes are
written, so a compressed bomb stops at the limit). Files get the owner's read and write bits
(and execute when the archive says so), never the archive's owner or other bits. The first
refusal stops the unpacking with an error that names the member; the caller unpacks into a
staged folder it removes on any error.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from atelier.contract.apps import MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES
from atelier.errors import InvalidInput

_CHUNK = 1 << 20


def unpack(
    archive: BinaryIO,
    target: Path,
    *,
    max_bytes: int = MAX_BUNDLE_BYTES,
    max_files: int = MAX_BUNDLE_FILES,
) -> list[str]:
    """Unpack the tar.gz ``archive`` into the existing empty folder ``target``; returns the
    files' relative paths (POSIX style)."""
    files: list[str] = []
    seen: set[str] = set()
    written = 0
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            for member in tar:
                relative = member_path(member.name)
                if relative is None:  # the archive's root folder itself
                    continue
                if relative in seen:
                    raise InvalidInput(f"app bundle: {member.name!r} appears twice")
                seen.add(relative)
                destination = target.joinpath(*PurePosixPath(relative).parts)
                if member.isdir():
                    _mkdir(destination, member.name)
                    continue
                if member.issym() or member.islnk():
                    raise InvalidInput(
                        f"app bundle: {member.name!r} is a link; an app's folder holds files "
                        "and folders only (the CLI and SDK pack the files links point to)"
                    )
                if not member.isreg():
                    raise InvalidInput(f"app bundle: {member.name!r} is not a file or a folder")
                if len(files) >= max_files:
                    raise InvalidInput(f"app bundle: more than {max_files} files")
                if written + member.size > max_bytes:
                    raise InvalidInput(_too_large(max_bytes))
                _mkdir(destination.parent, member.name)
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - regular members always have data
                    raise InvalidInput(f"app bundle: {member.name!r} has no data")
                try:
                    with destination.open("xb") as out:
                        while chunk := source.read(_CHUNK):
                            written += len(chunk)
                            if written > max_bytes:
                                raise InvalidInput(_too_large(max_bytes))
                            out.write(chunk)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    raise InvalidInput(
                        f"app bundle: {member.name!r} clashes with another member"
                    ) from None
                destination.chmod(0o700 if member.mode & 0o100 else 0o600)
                files.append(relative)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise InvalidInput(
            f"app bundle: not a readable gzip-compressed tar archive ({error})"
        ) from None
    except OSError as error:
        raise InvalidInput(f"app bundle: could not unpack it: {error.strerror or error}") from None
    return files


def member_path(name: str) -> str | None:
    """The member's path relative to the archive's root (``.`` parts dropped), or None for
    the root itself; an error for an absolute path, ``..``, or characters a name may not
    hold."""
    if "\x00" in name or "\\" in name:
        raise InvalidInput(f"app bundle: {name!r} holds a character a file name may not")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise InvalidInput(f"app bundle: {name!r} is an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"app bundle: {name!r} leads out of the app's folder ('..')")
    return "/".join(parts) or None


def clear(path: Path) -> None:
    """Remove a staged or replaced folder, whatever it holds."""
    shutil.rmtree(path, ignore_errors=True)


def _mkdir(path: Path, name: str) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidInput(f"app bundle: {name!r} clashes with another member") from None


def _too_large(limit: int) -> str:
    size = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit} bytes"
    return f"app bundle: over {size} once unpacked"
