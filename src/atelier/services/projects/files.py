"""A project's files, pulled to a laptop and pushed back.

A pull is an archive of the project's folder as git would commit it (source, notebooks,
``pyproject.toml``, ``uv.lock``; never ``.venv`` nor what ``.gitignore`` ignores), see
:mod:`atelier.contract.trees`. A push sends such an archive back with the files as they were
pulled (their sha256, the *base*). The server compares three versions of each file, like a
merge: a file the pusher changed and the server did not is written; a file both changed
differently is a conflict and nothing is written (``force`` writes the pusher's anyway); a
file the pusher deleted since the pull is deleted unless it changed on the server; a file only
the server has (made since the pull) is kept, and so is the server's version of a file that
changed there but not on the pusher's side. Without a base (a folder that was not pulled,
such as a git clone), every file that differs from the server's is a conflict unless ``force``.

When the push changes ``pyproject.toml`` or ``uv.lock``, the environment is synced to the
pushed lock (``uv sync --locked``) before the push counts: if the lock does not match its
``pyproject.toml`` or does not install, every file is put back and the error says why.
Members of the project and admins may pull and push; the checks come before anything is read
or written, and both are in the audit log (``project.pull``, ``project.push``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from atelier.contract.projects import MARKER, PushResult
from atelier.contract.trees import (
    NEVER,
    check_name,
    files_of,
    hashes,
    pack,
    read_members,
    sha256,
    target_inside,
    write_file,
)
from atelier.errors import Conflict, InvalidInput
from atelier.services.projects.environments import FILES, sync_locked
from atelier.services.projects.uvtool import UvFailed, exclusive

if TYPE_CHECKING:
    import tarfile

    from atelier.services.auth import Principal
    from atelier.services.projects.projects import Projects

#: How many conflicting files an error names.
SHOWN = 10
#: Archives up to this size stay in memory, larger ones go to a temporary file.
SPOOL = 8 * 2**20


class ProjectFiles:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    def pull(self, name: str, principal: Principal, *, client: str | None = None) -> bytes:
        """The project's files as a tar.gz archive (see the module's docstring)."""
        with self.pull_file(name, principal, client=client) as archive:
            return archive.read()

    def pull_file(self, name: str, principal: Principal, *, client: str | None = None) -> IO[bytes]:
        """:meth:`pull` as a temporary file, read from its start (close it): a large tree is
        not held in memory."""
        project = self.projects.require_member(
            name,
            principal,
            action="project.pull",
            client=client,
            people_only="pull projects",
            reading=True,
        )
        archive = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 (returned)
        try:
            with exclusive(self.projects.lock(name)):
                files = files_of(project.path, skip=(MARKER,), links="skip", git=False)
                pack(project.path, files, archive)
        except BaseException:
            archive.close()
            raise
        archive.seek(0)
        self.projects.audit.record(
            "project.pull",
            actor=principal.name,
            target=name,
            client=client,
            detail={"files": len(files)},
        )
        return archive

    def push(
        self,
        name: str,
        archive: IO[bytes],
        principal: Principal,
        *,
        force: bool = False,
        client: str | None = None,
    ) -> PushResult:
        """Write the pushed tree into the project (see the module's docstring). The archive's
        :data:`MARKER` member, if any, gives the base (it is not written)."""
        project = self.projects.require_member(
            name, principal, action="project.push", client=client, people_only="push projects"
        )
        folder = project.path.resolve()
        try:
            members = read_members(archive)
            for member, _ in members:
                parts = PurePosixPath(member).parts
                if any(part in NEVER for part in parts):
                    raise InvalidInput(
                        f"archive entry {member!r}: {', '.join(sorted(NEVER))} are not pushed"
                    )
            with tempfile.TemporaryDirectory(prefix=f"atelier-push-{name}-") as scratch:
                incoming = Path(scratch) / "tree"
                pushed = _extract(archive, members, incoming)
                base = _base(incoming, pushed)
                with exclusive(self.projects.lock(name)):
                    result = self._apply(name, folder, incoming, pushed, base, force, scratch)
        except BaseException as exc:
            self.projects.audit.record(
                "project.push",
                actor=principal.name,
                target=name,
                success=False,
                client=client,
                detail={"error": str(exc)[:500]},
            )
            raise
        self.projects.audit.record(
            "project.push",
            actor=principal.name,
            target=name,
            client=client,
            detail={
                "written": len(result.written),
                "deleted": len(result.deleted),
                "environment": result.environment,
            },
        )
        return result

    def _apply(
        self,
        name: str,
        folder: Path,
        incoming: Path,
        pushed: dict[str, str],
        base: Mapping[str, str] | None,
        force: bool,
        scratch: str,
    ) -> PushResult:
        current = hashes(folder, files_of(folder, skip=(MARKER,), links="skip", git=False))
        writes: list[str] = []
        conflicts: list[str] = []
        newer: dict[str, str] = {}
        for path, new in sorted(pushed.items()):
            server = current.get(path)
            if server == new:
                continue
            pulled = None if base is None else base.get(path)
            if pulled is not None and new == pulled:
                # Changed (or deleted) on the server only: the server's version stays, and the
                # pusher's base keeps the pulled one, so a later change of theirs conflicts.
                newer[path] = pulled
            elif server is None or server == pulled or force:
                writes.append(path)
            else:
                conflicts.append(path)
        deletes: list[str] = []
        for path, pulled in sorted((base or {}).items()):
            if path in pushed or path not in current:
                continue
            if current[path] == pulled or force:
                deletes.append(path)
            else:
                conflicts.append(path)
        if conflicts:
            shown = ", ".join(conflicts[:SHOWN]) + (" ..." if len(conflicts) > SHOWN else "")
            why = (
                "changed on the server since your pull"
                if base is not None
                else "differ from the server's and this folder was not pulled"
            )
            raise Conflict(
                f"project {name!r}: {len(conflicts)} file(s) {why}: {shown}; pull into another "
                "folder and merge, or push with --force to overwrite them (nothing was written)"
            )
        for path in [*writes, *deletes]:
            target_inside(folder, path)
        backup = Path(scratch) / "backup"
        saved: dict[str, bool] = {}
        try:
            for path in [*writes, *deletes]:
                saved[path] = _save(folder, path, backup)
            for path in writes:
                with (incoming / path).open("rb") as handle:
                    executable = bool((incoming / path).stat().st_mode & 0o100)
                    write_file(folder, path, handle, executable=executable)
            for path in deletes:
                (folder / path).unlink()
            environment = "unchanged"
            if any(path in FILES for path in [*writes, *deletes]):
                try:
                    sync_locked(self.projects.get(name))
                except UvFailed as exc:
                    raise InvalidInput(
                        f"project {name!r}: the pushed uv.lock does not install ({exc}); run "
                        "`uv lock` in your folder and push again (nothing was changed)"
                    ) from None
                environment = "synced"
        except BaseException:
            _restore(folder, backup, saved)
            if any(path in FILES for path in saved):
                # The files are back; `atelier env sync` repairs the environment if this fails.
                with contextlib.suppress(UvFailed):
                    sync_locked(self.projects.get(name), frozen=True)
            raise
        # The pusher's new base: its files, now the same on the server. Files only the server
        # has stay out of it, so a later push keeps them rather than deleting them.
        after = hashes(folder, sorted(set(pushed) - set(newer)))
        return PushResult(
            project=name,
            written=writes,
            deleted=deletes,
            kept=sorted(set(current) - set(pushed) - set(deletes)),
            newer=sorted(newer),
            environment=environment,
            files={**after, **newer},
        )


def _extract(
    archive: IO[bytes], members: list[tuple[str, tarfile.TarInfo]], into: Path
) -> dict[str, str]:
    """Unpack the checked members into a scratch folder; their sha256 by path."""
    import tarfile

    archive.seek(0)
    into.mkdir(parents=True)
    with tarfile.open(fileobj=archive, mode="r:gz") as opened:
        for info in opened:
            data = opened.extractfile(info) if info.isreg() else None
            if data is not None:
                name = check_name(info.name)
                write_file(into, name, data, executable=bool(info.mode & 0o100))
    return {name: sha256(into / name) for name, _ in members}


def _base(incoming: Path, pushed: dict[str, str]) -> dict[str, str] | None:
    """The files as pulled, from the pushed marker (taken out of ``pushed``); None without."""
    if pushed.pop(MARKER, None) is None:
        return None
    try:
        marker = json.loads((incoming / MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise ValueError("files is not a mapping of paths to hashes")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{MARKER}: not a pulled project's marker ({exc})") from None
    return {check_name(k): v for k, v in files.items()}


def _save(folder: Path, path: str, backup: Path) -> bool:
    """Copy ``folder/path`` into ``backup``; False when there is no such file yet."""
    source = folder / path
    if not source.is_file():
        return False
    target = backup / path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return True


def _restore(folder: Path, backup: Path, saved: Mapping[str, bool]) -> None:
    for path, existed in saved.items():
        target = folder / path
        if existed:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(backup / path, target)
        else:
            target.unlink(missing_ok=True)
