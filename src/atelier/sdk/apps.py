"""``ws.apps``: publish models as apps, host Streamlit and Dash apps, share, use them.

::

    ws.apps.create("churn-demo", "churn@champion", title="Will they churn?")
    ws.apps.deploy("sales", "dashboards/sales")          # a folder, or one script: "app.py"
    ws.apps.share("churn-demo", users=["vic"])           # or everyone=True
    answer = ws.apps.predict("churn-demo", {"age": 41, ...})
    ws.apps.feedback("churn-demo", answer["id"], "wrong", correct_value="stay")
    ws.apps.pause("sales"); ws.apps.resume("sales"); ws.apps.logs("sales")["logs"]

The embedded client calls the workspace's apps service, the remote one ``/api/v1/apps``; both
answer the same dictionaries (the shapes of :mod:`atelier.contract.apps`). A folder is packed
here into one gzip-compressed tar archive (the root ``.gitignore``'s simple patterns and the
usual caches left out, links inside the folder packed as the files they point to, links out
of it refused) and unpacked by the server, which refuses anything but plain files and folders.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from atelier.contract.apps import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES
from atelier.errors import InvalidInput

if TYPE_CHECKING:
    from atelier.sdk.remote import RemoteClient
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench

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


class Apps(ABC):
    """Apps: generated from a registered model, or the team's own Streamlit/Dash code."""

    @abstractmethod
    def list(self) -> builtins.list[dict[str, Any]]:
        """The apps you may use (a viewer: those shared with them)."""

    @abstractmethod
    def get(self, name: str) -> dict[str, Any]:
        """One app; a generated one with its ``form`` and the ``model_version`` it serves."""

    @abstractmethod
    def create(
        self, name: str, model: str, *, title: str = "", description: str = ""
    ) -> dict[str, Any]:
        """Publish app ``name`` generated from ``model`` (``NAME@ALIAS``, ``NAME/3``)."""

    def deploy(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        entry: str | None = None,
        project: str | None = None,
        kind: str | None = None,
        title: str = "",
    ) -> dict[str, Any]:
        """Host the Streamlit or Dash app at ``path`` as ``/apps/NAME/`` (or replace it): one
        script, or a folder shipped whole with ``entry`` as the script to run (default:
        ``app.py``, ``streamlit_app.py``, ``main.py`` or its only top-level script). It runs
        in ``project``'s environment; ``kind`` is detected from ``import dash``."""
        source = Path(path).expanduser()
        if source.is_dir():
            script = entry or default_entry(source)
            archive = pack(source)
            return self._deploy_bundle(name, archive, script, project, kind, title)
        if not source.is_file():
            raise InvalidInput(f"{source}: no such file or folder")
        if entry is not None:
            raise InvalidInput("entry= names the script of a folder: give the folder")
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{source}: not a UTF-8 text file") from None
        return self._deploy_script(name, text, source.name, project, kind, title)

    @abstractmethod
    def _deploy_script(
        self,
        name: str,
        script: str,
        filename: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def _deploy_bundle(
        self,
        name: str,
        archive: bytes,
        entry: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def share(
        self,
        name: str,
        *,
        users: Sequence[str] = (),
        everyone: bool | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Share with ``users`` and/or every logged-in user (``everyone=True``), or stop
        (``remove``, ``everyone=False``). Its owner or an admin only."""

    @abstractmethod
    def pause(self, name: str) -> dict[str, Any]:
        """Its users cannot open it until it is resumed."""

    @abstractmethod
    def resume(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def delete(self, name: str) -> dict[str, Any]:
        """Delete the app (its feedback table stays in the warehouse)."""

    @abstractmethod
    def logs(self, name: str, lines: int = 200) -> dict[str, Any]:
        """A hosted app's last output lines (``logs``) and its process ``state``."""

    @abstractmethod
    def predict(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """One prediction through a generated app; its ``id`` is what feedback quotes."""

    @abstractmethod
    def feedback(
        self,
        name: str,
        prediction_id: str,
        verdict: str,
        *,
        correct_value: str | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Say a prediction made through the app was ``right`` or ``wrong``."""

    @abstractmethod
    def feedback_summary(self, name: str, limit: int = 100) -> dict[str, Any]:
        """Agreement per model version, recent comments and entries, the warehouse table."""

    @abstractmethod
    def address(self, app: dict[str, Any]) -> str:
        """The app's full address, as its users open it."""


class EmbeddedApps(Apps):
    def __init__(self, workbench: Workbench, principal: Principal, client: str = "sdk") -> None:
        self._workbench = workbench
        self._service = workbench.apps
        self._principal = principal
        self._client = client

    def list(self) -> builtins.list[dict[str, Any]]:
        return [_app(app.as_dict()) for app in self._service.registry.list(self._principal)]

    def get(self, name: str) -> dict[str, Any]:
        from atelier.contract.apps import AppDetail

        found = self._service.detail(name, self._principal)
        return AppDetail.model_validate(found).model_dump(mode="json")

    def create(
        self, name: str, model: str, *, title: str = "", description: str = ""
    ) -> dict[str, Any]:
        app = self._service.create(
            name, model, self._principal, title=title, description=description, client=self._client
        )
        return _app(app.as_dict())

    def _deploy_script(
        self,
        name: str,
        script: str,
        filename: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]:
        app = self._service.deploy(
            name,
            script,
            self._principal,
            project=project,
            kind=kind,
            filename=filename,
            title=title,
            client=self._client,
        )
        return _app(app.as_dict())

    def _deploy_bundle(
        self,
        name: str,
        archive: bytes,
        entry: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]:
        app = self._service.deploy_folder(
            name,
            io.BytesIO(archive),
            self._principal,
            entry=entry,
            project=project,
            kind=kind,
            title=title,
            client=self._client,
        )
        return _app(app.as_dict())

    def share(
        self,
        name: str,
        *,
        users: Sequence[str] = (),
        everyone: bool | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, Any]:
        app = self._service.share(
            name,
            self._principal,
            users=builtins.list(users),
            everyone=everyone,
            remove=builtins.list(remove),
            client=self._client,
        )
        return _app(app.as_dict())

    def pause(self, name: str) -> dict[str, Any]:
        return _app(self._service.pause(name, self._principal, client=self._client).as_dict())

    def resume(self, name: str) -> dict[str, Any]:
        return _app(self._service.resume(name, self._principal, client=self._client).as_dict())

    def delete(self, name: str) -> dict[str, Any]:
        return _app(self._service.delete(name, self._principal, client=self._client).as_dict())

    def logs(self, name: str, lines: int = 200) -> dict[str, Any]:
        return self._service.status(name, self._principal, lines)

    def predict(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise InvalidInput("predict takes one record: a dict of field → value")
        app = self._service.registry.for_user(name, self._principal)
        return self._service.predict(app, self._principal, record=record).single_dict()

    def feedback(
        self,
        name: str,
        prediction_id: str,
        verdict: str,
        *,
        correct_value: str | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        from atelier.contract.apps import FeedbackEntry

        app = self._service.registry.for_user(name, self._principal)
        entry = self._service.give_feedback(
            app,
            self._principal,
            prediction_id,
            verdict,
            correct_value=correct_value,
            comment=comment,
        )
        return FeedbackEntry.model_validate(entry.as_dict()).model_dump(mode="json")

    def feedback_summary(self, name: str, limit: int = 100) -> dict[str, Any]:
        from atelier.contract.apps import FeedbackSummary

        summary = self._service.feedback_summary(name, self._principal, limit)
        return FeedbackSummary.model_validate(summary.as_dict()).model_dump(mode="json")

    def address(self, app: dict[str, Any]) -> str:
        return f"{self._workbench.workspace.public_url.rstrip('/')}{app['url']}"


class RemoteApps(Apps):
    """Over ``/api/v1/apps``; a folder travels as one archive (``POST /apps/deploy/bundle``)."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._client.request(method, f"/apps{path}", **kwargs).json()

    def list(self) -> builtins.list[dict[str, Any]]:
        return [_app(found) for found in self._call("GET", "")]

    def get(self, name: str) -> dict[str, Any]:
        from atelier.contract.apps import AppDetail

        return AppDetail.model_validate(self._call("GET", _path(name))).model_dump(mode="json")

    def create(
        self, name: str, model: str, *, title: str = "", description: str = ""
    ) -> dict[str, Any]:
        body = {"name": name, "model": model, "title": title, "description": description}
        # Loading the model may take a while on a cold server: no read timeout.
        return _app(self._call("POST", "", json=body, timeout=None))

    def _deploy_script(
        self,
        name: str,
        script: str,
        filename: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "script": script,
            "filename": filename,
            "project": project,
            "kind": kind,
            "title": title,
        }
        return _app(self._call("POST", "/deploy", json=body, timeout=None))

    def _deploy_bundle(
        self,
        name: str,
        archive: bytes,
        entry: str,
        project: str | None,
        kind: str | None,
        title: str,
    ) -> dict[str, Any]:
        params = {"name": name, "entry": entry, "title": title}
        if project is not None:
            params["project"] = project
        if kind is not None:
            params["kind"] = kind
        found = self._call(
            "POST",
            "/deploy/bundle",
            params=params,
            content=archive,
            headers={"Content-Type": BUNDLE_MEDIA_TYPE},
            timeout=None,
        )
        return _app(found)

    def share(
        self,
        name: str,
        *,
        users: Sequence[str] = (),
        everyone: bool | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, Any]:
        body = {
            "users": builtins.list(users),
            "everyone": everyone,
            "remove": builtins.list(remove),
        }
        return _app(self._call("POST", f"{_path(name)}/share", json=body))

    def pause(self, name: str) -> dict[str, Any]:
        return _app(self._call("POST", f"{_path(name)}/pause"))

    def resume(self, name: str) -> dict[str, Any]:
        return _app(self._call("POST", f"{_path(name)}/resume"))

    def delete(self, name: str) -> dict[str, Any]:
        return _app(self._call("DELETE", _path(name)))

    def logs(self, name: str, lines: int = 200) -> dict[str, Any]:
        from atelier.contract.apps import AppLogs

        found = self._call("GET", f"{_path(name)}/logs", params={"lines": lines})
        return AppLogs.model_validate(found).model_dump(mode="json")

    def predict(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise InvalidInput("predict takes one record: a dict of field → value")
        found: dict[str, Any] = self._call(
            "POST", f"{_path(name)}/predict", json=record, timeout=None
        )
        return found

    def feedback(
        self,
        name: str,
        prediction_id: str,
        verdict: str,
        *,
        correct_value: str | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        from atelier.contract.apps import FeedbackEntry

        body = {
            "prediction_id": prediction_id,
            "verdict": verdict,
            "correct_value": correct_value,
            "comment": comment,
        }
        found = self._call("POST", f"{_path(name)}/feedback", json=body)
        return FeedbackEntry.model_validate(found).model_dump(mode="json")

    def feedback_summary(self, name: str, limit: int = 100) -> dict[str, Any]:
        from atelier.contract.apps import FeedbackSummary

        found = self._call("GET", f"{_path(name)}/feedback", params={"limit": limit})
        return FeedbackSummary.model_validate(found).model_dump(mode="json")

    def address(self, app: dict[str, Any]) -> str:
        return f"{self._client.url}{app['url']}"


def _path(name: str) -> str:
    return f"/{quote(name, safe='')}"


def _app(found: dict[str, Any]) -> dict[str, Any]:
    from atelier.contract.apps import App

    return App.model_validate(found).model_dump(mode="json")


# -- packing a folder --------------------------------------------------------------------


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
