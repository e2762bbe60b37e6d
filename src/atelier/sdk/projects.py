"""Projects through the SDK: ``ws.projects`` (embedded or remote).

``ws.projects()`` lists them (as before); ``ws.projects.get(name)``, ``.create(...)``,
``.add_member(...)``, ``.env_show(...)``... act on the server's projects; ``.pull(name)``
brings a project's files to this machine (with its ``uv.lock``, so ``uv sync`` there gives the
same environment) and ``.push(folder)`` sends them back (see
:mod:`atelier.services.projects.files` for how a push merges).
"""

from __future__ import annotations

import io
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from atelier.contract.projects import (
    MARKER,
    EnvironmentOut,
    MemberOut,
    ProjectOut,
    PushResult,
)
from atelier.contract.trees import TREE_ARCHIVE, files_of, hashes, pack_bytes, unpack
from atelier.errors import InvalidInput
from atelier.sdk.tree import find_checkout, find_marker, read_marker

if TYPE_CHECKING:
    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench

#: Rows as the API returns them (``list`` is also a method name below).
Rows = list[dict[str, Any]]
Names = list[str]


class Projects(ABC):
    """Projects, their members and environments, and their files."""

    def __call__(self) -> Rows:
        """Every project, with its members and your role in it (``owner``/``editor``/
        ``reader``/None)."""
        return self.list()

    @abstractmethod
    def list(self) -> Rows:
        """Every project, with its members and your role in it."""

    @abstractmethod
    def get(self, name: str) -> dict[str, Any]:
        """One project: folder and interpreter on the server, members, your role."""

    @abstractmethod
    def create(
        self, name: str, description: str = "", *, from_git: str | None = None
    ) -> dict[str, Any]:
        """Create a project (a git repository with ``pyproject.toml``, ``uv.lock`` and an
        environment); you become its owner. ``from_git``: clone this repository into it."""

    @abstractmethod
    def add_member(
        self, name: str, user: str, *, owner: bool = False, role: str | None = None
    ) -> Rows:
        """Add ``user`` to the project (or change their role); owners and admins may.
        ``role``: ``owner``, ``editor`` (the default) or ``reader``; ``owner=True`` is
        ``role="owner"``."""

    @abstractmethod
    def remove_member(self, name: str, user: str) -> None:
        """Remove ``user`` from the project; owners and admins may, anyone may leave."""

    @abstractmethod
    def env_show(self, name: str) -> dict[str, Any]:
        """The project's environment: ``requirements`` as declared, ``packages`` as locked."""

    @abstractmethod
    def env_change(self, name: str, verb: str, packages: Names) -> dict[str, Any]:
        """``verb`` ``add`` or ``remove`` ``packages``; returns the environment."""

    @abstractmethod
    def env_sync(self, name: str) -> dict[str, Any]:
        """Make the project's environment on the server match its ``uv.lock`` again."""

    @abstractmethod
    def _pull(self, name: str) -> bytes: ...

    @abstractmethod
    def _push(self, name: str, archive: bytes, force: bool) -> dict[str, Any]: ...

    @abstractmethod
    def _origin(self) -> str: ...

    # -- files ----------------------------------------------------------------------------

    def pull(
        self, name: str, dest: str | Path | None = None, *, force: bool = False
    ) -> dict[str, Any]:
        """Unpack project ``name``'s files into ``dest`` (default ``./NAME``): its source,
        notebooks, ``pyproject.toml`` and ``uv.lock``, never its ``.venv``. A folder that is
        not empty is refused unless ``force`` (then pulled files replace local ones of the same
        name). Returns ``{"project", "path", "files"}``."""
        folder = Path(dest if dest is not None else name).expanduser().absolute()
        if folder.exists() and not folder.is_dir():
            raise InvalidInput(f"{folder} is a file, not a folder")
        if folder.is_dir() and any(folder.iterdir()) and not force:
            raise InvalidInput(
                f"{folder} is not empty: pull into a new folder, or pass --force to overwrite "
                "the files it has in common with the project"
            )
        archive = self._pull(name)
        names = unpack(io.BytesIO(archive), folder)
        write_marker(folder, name, self._origin(), hashes(folder, names))
        return {"project": name, "path": str(folder), "files": sorted(names)}

    def push(
        self, path: str | Path | None = None, *, project: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Send the folder at ``path`` (default: the pulled project holding the current
        folder) back to its project on the server: the files git would commit (``.gitignore``
        respected), never ``.venv``. Files changed on the server since the pull are a conflict
        (nothing is written) unless ``force``. Returns what changed (``written``, ``deleted``,
        ``kept``, ``environment``)."""
        start = Path(path).expanduser().absolute() if path is not None else Path.cwd()
        found = find_marker(start)
        root = found.parent if found is not None else start
        pulled = read_marker(found) if found is not None else {}
        name = project or pulled.get("project")
        if not name:
            raise InvalidInput(
                f"{start}: no pulled project here ({MARKER} not found): pass the project's name "
                "(atelier projects push NAME)"
            )
        if pulled.get("project") not in (None, name):
            raise InvalidInput(
                f"{root} was pulled from project {pulled['project']!r}, not {name!r}: push it "
                "to its own project, or pull that project into another folder"
            )
        files = files_of(root, skip=(MARKER,), git=True)
        if found is not None:
            files.append(MARKER)
        result = self._push(name, pack_bytes(root, files), force)
        PushResult.model_validate(result)
        write_marker(root, name, pulled.get("origin") or self._origin(), result["files"])
        return {**result, "path": str(root)}


def write_marker(folder: Path, name: str, origin: str, files: dict[str, str]) -> None:
    text = json.dumps({"project": name, "origin": origin, "files": files}, indent=1)
    (folder / MARKER).write_text(text + "\n", encoding="utf-8")


def project_for_folder(path: Path) -> str | None:
    """The project a folder belongs to: the checkout that holds it (see
    :func:`atelier.sdk.tree.find_checkout`)."""
    checkout = find_checkout(path)
    return checkout.project if checkout is not None else None


def project_name(project: str | None, *, here: Path | None = None) -> str | None:
    """``project``, else the project of the folder ``here`` (see :func:`project_for_folder`),
    else ``ATELIER_PROJECT``."""
    if project:
        return project
    if here is not None:
        found = project_for_folder(here)
        if found:
            return found
    return os.environ.get("ATELIER_PROJECT") or None


def _checked(model: type[Any], data: Any) -> Any:
    """``data`` as the contract's ``model`` shapes it, in JSON types (dicts, lists)."""
    if isinstance(data, list):
        return [model.model_validate(item).model_dump(mode="json") for item in data]
    return model.model_validate(data).model_dump(mode="json")


# -- embedded -------------------------------------------------------------------------------


class EmbeddedProjects(Projects):
    def __init__(self, workbench: Workbench, principal: Principal, client: str) -> None:
        self.workbench = workbench
        self.principal = principal
        self.client = client

    def _with_role(self, project: Any) -> dict[str, Any]:
        data = {**project.as_dict(), "role": project.role_of(self.principal.name)}
        checked: dict[str, Any] = _checked(ProjectOut, data)
        return checked

    def list(self) -> Rows:
        return [self._with_role(p) for p in self.workbench.projects.list(by=self.principal)]

    def get(self, name: str) -> dict[str, Any]:
        return self._with_role(self.workbench.projects.get(name, by=self.principal))

    def create(
        self, name: str, description: str = "", *, from_git: str | None = None
    ) -> dict[str, Any]:
        project = self.workbench.projects.create(
            name, self.principal, description, client=self.client, git_url=from_git
        )
        return self._with_role(project)

    def add_member(
        self, name: str, user: str, *, owner: bool = False, role: str | None = None
    ) -> Rows:
        project = self.workbench.projects.add_member(
            name, user, self.principal, role=_role(owner, role), client=self.client
        )
        members: Rows = _checked(MemberOut, [m.as_dict() for m in project.members])
        return members

    def remove_member(self, name: str, user: str) -> None:
        self.workbench.projects.remove_member(name, user, self.principal, client=self.client)

    def env_show(self, name: str) -> dict[str, Any]:
        shown: dict[str, Any] = _checked(
            EnvironmentOut, self.workbench.projects.env.show(name, by=self.principal).as_dict()
        )
        return shown

    def env_change(self, name: str, verb: str, packages: Names) -> dict[str, Any]:
        env = self.workbench.projects.env
        change = env.add if verb == "add" else env.remove
        changed: dict[str, Any] = _checked(
            EnvironmentOut, change(name, packages, self.principal, client=self.client).as_dict()
        )
        return changed

    def env_sync(self, name: str) -> dict[str, Any]:
        env = self.workbench.projects.env
        synced: dict[str, Any] = _checked(
            EnvironmentOut, env.sync(name, self.principal, client=self.client).as_dict()
        )
        return synced

    def _pull(self, name: str) -> bytes:
        return self.workbench.projects.files.pull(name, self.principal, client=self.client)

    def _push(self, name: str, archive: bytes, force: bool) -> dict[str, Any]:
        result = self.workbench.projects.files.push(
            name, io.BytesIO(archive), self.principal, force=force, client=self.client
        )
        return result.model_dump(mode="json")

    def _origin(self) -> str:
        return str(self.workbench.workspace.root)


# -- remote ---------------------------------------------------------------------------------


class RemoteProjects(Projects):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, f"/projects{path}", **kwargs).json()

    def list(self) -> Rows:
        listed: Rows = _checked(ProjectOut, self._json("GET", ""))
        return listed

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = _checked(ProjectOut, self._json("GET", f"/{quote(name)}"))
        return found

    def create(
        self, name: str, description: str = "", *, from_git: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "description": description, "from_git": from_git}
        # uv builds the environment: no read timeout.
        created: dict[str, Any] = _checked(
            ProjectOut, self._json("POST", "", json=body, timeout=None)
        )
        return created

    def add_member(
        self, name: str, user: str, *, owner: bool = False, role: str | None = None
    ) -> Rows:
        body = {"user": user, "role": _role(owner, role)}
        members: Rows = _checked(
            MemberOut, self._json("POST", f"/{quote(name)}/members", json=body)
        )
        return members

    def remove_member(self, name: str, user: str) -> None:
        self.client.request("DELETE", f"/projects/{quote(name)}/members/{quote(user)}")

    def env_show(self, name: str) -> dict[str, Any]:
        shown: dict[str, Any] = _checked(EnvironmentOut, self._json("GET", f"/{quote(name)}/env"))
        return shown

    def env_change(self, name: str, verb: str, packages: Names) -> dict[str, Any]:
        method = "POST" if verb == "add" else "DELETE"
        changed: dict[str, Any] = _checked(
            EnvironmentOut,
            self._json(method, f"/{quote(name)}/env", json={"packages": packages}, timeout=None),
        )
        return changed

    def env_sync(self, name: str) -> dict[str, Any]:
        synced: dict[str, Any] = _checked(
            EnvironmentOut, self._json("POST", f"/{quote(name)}/env/sync", timeout=None)
        )
        return synced

    def _pull(self, name: str) -> bytes:
        return self.client.request("GET", f"/projects/{quote(name)}/files", timeout=None).content

    def _push(self, name: str, archive: bytes, force: bool) -> dict[str, Any]:
        response = self.client.request(
            "POST",
            f"/projects/{quote(name)}/files",
            params={"force": "true"} if force else None,
            content=archive,
            headers={"Content-Type": TREE_ARCHIVE},
            timeout=None,
        )
        result: dict[str, Any] = _checked(PushResult, response.json())
        return result

    def _origin(self) -> str:
        return self.client.url


def _role(owner: bool, role: str | None) -> str:
    if owner and role not in (None, "owner"):
        raise ValueError(f"owner=True and role={role!r} disagree: give one of them")
    return "owner" if owner else role or "editor"
