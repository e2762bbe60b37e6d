"""``ws.apps``: publish models as apps, host Streamlit and Dash apps, share, use them.

::

    ws.apps.create("churn-demo", "churn@champion", title="Will they churn?")
    ws.apps.deploy("sales", "dashboards/sales")          # a folder, or one script: "app.py"
    ws.apps.share("churn-demo", users=["vic"])           # or everyone=True
    answer = ws.apps.predict("churn-demo", {"age": 41, ...})
    ws.apps.feedback("churn-demo", answer["id"], "wrong", correct_value="stay")
    ws.apps.pause("sales"); ws.apps.resume("sales"); ws.apps.logs("sales")["logs"]
    ws.apps.build("sales")                               # its container image (docs/containers.md)

The embedded client calls the workspace's apps service, the remote one ``/api/v1/apps``; both
answer the same dictionaries (the shapes of :mod:`atelier.contract.apps`). A folder travels
as one archive by the rules every folder follows (:mod:`atelier.contract.trees`: git's files or
the ``.gitignore`` rules, links to files inside it as those files), unpacked by the apps
service, which refuses anything but plain files and folders.
"""

from __future__ import annotations

import builtins
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from atelier.contract.apps import BUNDLE_MEDIA_TYPE
from atelier.errors import InvalidInput

if TYPE_CHECKING:
    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


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
            archive = pack_folder(source, script)
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
    def mark_personal(self, name: str, field: str, kind: str) -> builtins.list[dict[str, Any]]:
        """Mark ``field`` of generated app ``name`` as personal data of ``kind`` (``email``,
        ``person_name``...), ``none`` (not personal) or ``auto`` (take the mark off); the
        app's personal fields. Its owner or an admin only."""

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

    # -- images ---------------------------------------------------------------------------

    @abstractmethod
    def build(
        self,
        name: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        """Build app ``name``'s container image (a generated app: its model version's image
        with the app's page; a hosted app: its files on its project's locked environment);
        returns the image's name, id, size and labels. The app's owner or an admin."""

    @abstractmethod
    def build_context(
        self, name: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        """Write app ``name``'s build context to ``folder`` (new or empty), for a build
        elsewhere; builds nothing."""


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

    def mark_personal(self, name: str, field: str, kind: str) -> builtins.list[dict[str, Any]]:
        found = self._service.mark_personal(name, field, kind, self._principal, client=self._client)
        return [f.as_dict() for f in found.values()]

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

    def build(
        self,
        name: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        from atelier.contract.app_images import AppImageBuilt

        built = self._workbench.app_images.build(
            name, by=self._principal, engine=engine, base=base, tag=tag, client=self._client
        )
        return AppImageBuilt.model_validate(built).model_dump(mode="json")

    def build_context(
        self, name: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        return self._workbench.app_images.context(
            name, Path(folder), by=self._principal, base=base, tag=tag, client=self._client
        )


class RemoteApps(Apps):
    """Over ``/api/v1/apps``; a folder travels as one archive (``POST /apps/deploy/bundle``)."""

    def __init__(self, client: Transport) -> None:
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

    def mark_personal(self, name: str, field: str, kind: str) -> builtins.list[dict[str, Any]]:
        body = {"field": field, "kind": kind}
        found: builtins.list[dict[str, Any]] = self._call(
            "POST", f"{_path(name)}/personal", json=body
        )
        return found

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

    def build(
        self,
        name: str,
        *,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        from atelier.contract.app_images import AppImageBuilt

        body = {"engine": engine, "base": base, "tag": tag}
        found = self._call("POST", f"{_path(name)}/image", json=body, timeout=None)
        return AppImageBuilt.model_validate(found).model_dump(mode="json")

    def build_context(
        self, name: str, folder: str | Path, *, base: str | None = None, tag: str | None = None
    ) -> dict[str, Any]:
        import json

        from atelier.sdk.contexts import receive_context

        params = {k: v for k, v in {"base": base, "tag": tag}.items() if v is not None}
        path = f"/apps{_path(name)}/image/context"
        target = receive_context(self._client, path, params, folder)
        info = json.loads((target / "app-info.json").read_text())
        return {
            "app": info.get("app"),
            "kind": info.get("kind"),
            "model": info.get("model"),
            "version": info.get("version"),
            "project": info.get("project"),
            "image": tag,
            "folder": str(target),
        }


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


def pack_folder(folder: Path, entry: str) -> bytes:
    """The app's folder as a tar.gz archive: the files that travel by
    :mod:`atelier.contract.trees`'s rules, with ``entry`` among them."""
    from atelier.contract.projects import MARKER
    from atelier.contract.trees import files_of, pack_bytes

    root = folder.resolve()
    files = files_of(root, skip=(MARKER,), git=True)
    if entry.replace("\\", "/").removeprefix("./") not in files:
        raise InvalidInput(
            f"{folder}: the app's script {entry!r} is not in the folder, or its .gitignore "
            "leaves it out; name the script with entry= (--entry)"
        )
    return pack_bytes(root, files)


def _path(name: str) -> str:
    return f"/{quote(name, safe='')}"


def _app(found: dict[str, Any]) -> dict[str, Any]:
    from atelier.contract.apps import App

    return App.model_validate(found).model_dump(mode="json")
