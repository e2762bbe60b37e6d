"""The projects service: create projects, list them, manage their members.

A project is the folder ``<workspace>/projects/<name>/`` plus a metadata row. It is built in a
hidden folder next to its final place and renamed when complete; the row is written only
after that, so a failed creation leaves nothing behind.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from atelier.backends.metadata import Database, ProjectMember, ProjectRecord, User
from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.projects import git
from atelier.services.projects.access import check_code, people_only
from atelier.services.projects.layout import (
    complete_clone,
    declares_ipykernel,
    link_to_atelier,
    write_skeleton,
)
from atelier.services.projects.model import (
    EDITING_ROLES,
    Member,
    Project,
    check_name,
    member_role,
)
from atelier.services.projects.uvtool import UvFailed, exclusive, run_uv

if TYPE_CHECKING:
    from atelier.services.auth import AuditLog, Principal
    from atelier.services.projects.environments import Environments
    from atelier.services.projects.files import ProjectFiles

MAX_DESCRIPTION = 10_000


class Projects:
    def __init__(
        self,
        db: Database,
        root: Path,
        folder: Path,
        locks: Path,
        audit: AuditLog,
        *,
        clone_roots: list[str] | None = None,
        git_host: str = "",
    ) -> None:
        """``root`` is the workspace, ``folder`` holds the projects (``<root>/projects``),
        ``locks`` the lock files that serialize changes of one project's environment.
        ``clone_roots``: where local repositories may be cloned from; ``git_host``: the host
        of the e-mail addresses git records for Atelier users."""
        self.db = db
        self.root = root
        self.folder = folder
        self.locks = locks
        self.audit = audit
        self.clone_roots = clone_roots or []
        self.git_host = git_host

    @property
    def env(self) -> Environments:
        """The projects' Python environments: add, remove and show packages."""
        from atelier.services.projects.environments import Environments

        return Environments(self)

    @property
    def files(self) -> ProjectFiles:
        """The projects' files: pull them as an archive, push a tree back."""
        from atelier.services.projects.files import ProjectFiles

        return ProjectFiles(self)

    def lock(self, name: str) -> Path:
        return self.locks / f"project-{name}.lock"

    # -- projects -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        principal: Principal,
        description: str = "",
        *,
        client: str | None = None,
        git_url: str | None = None,
    ) -> Project:
        """Make the project folder, a git repository, and its environment; ``principal``
        becomes its owner. ``git_url``: clone this repository instead of starting empty."""
        check_name(name)
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"description too long: at most {MAX_DESCRIPTION} characters")
        if principal.role not in ("admin", "scientist"):
            raise PermissionDenied(f"role {principal.role!r} may not create projects")
        check_code(principal, "create projects")
        target = self.folder / name
        with exclusive(self.lock(name)):
            self._check_free(name, target)
            self.folder.mkdir(parents=True, exist_ok=True)
            staging = self.folder / f".{name}.creating-{uuid.uuid4().hex[:8]}"
            try:
                if git_url:
                    git.clone(git_url, staging, self.clone_roots, principal.name, self.git_host)
                    complete_clone(staging, name, description)
                else:
                    write_skeleton(staging, name, description)
                venv = staging / ".venv"
                # Relocatable: the environment is built here and used after the rename.
                run_uv(["venv", "--relocatable", "--quiet", str(venv)], venv=venv, cwd=staging)
                if git_url and not declares_ipykernel(staging):
                    # Notebooks need a kernel: added like any package (a change git shows).
                    run_uv(["add", "--project", str(staging), "ipykernel"], venv=venv, cwd=staging)
                run_uv(["sync", "--project", str(staging)], venv=venv, cwd=staging)
                if not git_url:
                    git.init(staging, principal.name, self.git_host, f"Create project {name}")
                link_to_atelier(venv, target)
                staging.rename(target)
            except BaseException as exc:
                shutil.rmtree(staging, ignore_errors=True)
                if isinstance(exc, UvFailed):
                    raise UvFailed(
                        f"could not create the environment of project {name!r}: {exc}"
                    ) from None
                raise
            try:
                self._insert(name, description, principal)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        self.audit.record(
            "project.create",
            actor=principal.name,
            target=name,
            client=client,
            detail={
                k: v
                for k, v in (("description", description), ("from", git_url and git.shown(git_url)))
                if v
            }
            or None,
        )
        return self.get(name)

    def _check_free(self, name: str, target: Path) -> None:
        with self.db.session() as session:
            if session.scalar(select(ProjectRecord.id).where(ProjectRecord.name == name)):
                raise Conflict(f"project {name!r} already exists")
        if target.exists():
            raise Conflict(
                f"{target} already exists but is not a project: move it away or choose another name"
            )

    def _insert(self, name: str, description: str, principal: Principal) -> None:
        with self.db.session() as session:
            record = ProjectRecord(
                name=name,
                description=description,
                path=f"{self.folder.name}/{name}",
                created_by=principal.name,
            )
            session.add(record)
            session.flush()
            session.add(
                ProjectMember(project_id=record.id, user_id=principal.user_id, role="owner")
            )

    def get(self, name: str, *, by: Principal | None = None) -> Project:
        """Project ``name``; ``by``: who asks, refused unless they may see projects
        (:meth:`check_reader`)."""
        if by is not None:
            self.check_reader(by)
        with self.db.session() as session:
            return self._project(self._row(session, name))

    def list(
        self, principal: Principal | None = None, *, mine: bool = False, by: Principal | None = None
    ) -> list[Project]:
        """Every project (projects are visible to everyone who works with data); ``mine``:
        only those ``principal`` is a member of. ``by``: who asks, refused unless they may see
        projects (:meth:`check_reader`)."""
        if by is not None:
            self.check_reader(by)
        query = (
            select(ProjectRecord)
            .options(selectinload(ProjectRecord.members).selectinload(ProjectMember.user))
            .order_by(ProjectRecord.name)
        )
        with self.db.session() as session:
            projects = [self._project(r) for r in session.scalars(query)]
        if mine and principal is not None:
            projects = [p for p in projects if p.role_of(principal.name)]
        return projects

    @staticmethod
    def check_reader(principal: Principal) -> None:
        """Scientists and admins see projects, and the code they run if its token holds the
        projects scope; viewers do not."""
        if principal.role not in ("admin", "scientist"):
            raise PermissionDenied(
                f"{principal.name} ({principal.role}) may not use projects: it needs admin or "
                "scientist"
            )
        check_code(principal, "use projects")

    def require_member(
        self,
        name: str,
        principal: Principal,
        *,
        action: str | None = None,
        client: str | None = None,
        detail: dict[str, Any] | None = None,
        people_only: str | None = None,
        reading: bool = False,
    ) -> Project:
        """The project, if ``principal`` may change it and run its code (an owner or editor,
        or an admin); ``reading``: if they may read its files (readers too). With ``action``,
        a refusal is written to the audit log under that name. ``people_only``: what is being
        done, closed to tokens made for code whatever their scopes."""
        project = self.get(name)
        if people_only is not None and principal.scoped:
            self._refused(action, name, principal, client, detail)
            raise PermissionDenied(
                f"the token {principal.label!r} is for code and may not {people_only}: it acts "
                f"for {principal.name}"
            )
        role = project.role_of(principal.name)
        if principal.role == "admin" or role in EDITING_ROLES or (reading and role is not None):
            return project
        owners = ", ".join(m.name for m in project.members if m.role == "owner") or "none"
        self._refused(action, name, principal, client, detail)
        if role is None:
            raise PermissionDenied(
                f"{principal.name} is not a member of project {name!r}: ask one of its owners "
                f"({owners}) to add you"
            )
        raise PermissionDenied(
            f"{principal.name} is a reader of project {name!r}: readers see its notebooks and "
            f"runs but may not change the project or run its code; ask one of its owners "
            f"({owners}) to make you an editor"
        )

    def _refused(
        self,
        action: str | None,
        name: str,
        principal: Principal,
        client: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if action is not None:
            self.audit.record(
                action,
                actor=principal.name,
                target=name,
                success=False,
                client=client,
                detail={**(detail or {}), "refused": "not allowed"},
            )

    def project_for_path(self, path: Path) -> Project | None:
        """The project whose folder holds ``path`` (e.g. the current directory), if any."""
        name = project_name_for_path(path, self.folder)
        if name is None:
            return None
        try:
            return self.get(name)
        except NotFound:
            return None

    # -- members --------------------------------------------------------------------------

    def add_member(
        self,
        name: str,
        user: str,
        principal: Principal,
        *,
        role: str = "editor",
        client: str | None = None,
    ) -> Project:
        """Add ``user`` to the project (or change their role: ``owner``, ``editor`` or
        ``reader``); owners and admins may."""
        role = member_role(role)
        try:
            with self.db.session() as session:
                record = self._row(session, name)
                self._require_owner(record, principal)
                people_only(principal, "manage project members")
                account = session.scalar(select(User).where(User.name == user))
                if account is None:
                    raise NotFound(f"user {user!r} not found")
                if account.role == "viewer":
                    raise InvalidInput(
                        f"{user} is a viewer: only scientists and admins can work in projects"
                    )
                existing = next((m for m in record.members if m.user_id == account.id), None)
                if existing is None:
                    session.add(ProjectMember(project_id=record.id, user_id=account.id, role=role))
                elif existing.role != role:
                    self._keep_an_owner(record, existing, role)
                    existing.role = role
        except PermissionDenied:
            self._refused("project.member.add", name, principal, client, {"user": user})
            raise
        self.audit.record(
            "project.member.add",
            actor=principal.name,
            target=name,
            client=client,
            detail={"user": user, "role": role},
        )
        return self.get(name)

    def remove_member(
        self, name: str, user: str, principal: Principal, *, client: str | None = None
    ) -> Project:
        """Remove ``user`` from the project; owners and admins may, and anyone may leave."""
        try:
            with self.db.session() as session:
                record = self._row(session, name)
                if user != principal.name:
                    self._require_owner(record, principal)
                people_only(principal, "manage project members")
                existing = next((m for m in record.members if m.user.name == user), None)
                if existing is None:
                    raise NotFound(f"{user} is not a member of project {name!r}")
                self._keep_an_owner(record, existing, None)
                session.delete(existing)
        except PermissionDenied:
            self._refused("project.member.remove", name, principal, client, {"user": user})
            raise
        self.audit.record(
            "project.member.remove",
            actor=principal.name,
            target=name,
            client=client,
            detail={"user": user},
        )
        return self.get(name)

    @staticmethod
    def _is_owner(record: ProjectRecord, principal: Principal) -> bool:
        return principal.role == "admin" or any(
            m.user_id == principal.user_id and m.role == "owner" for m in record.members
        )

    @classmethod
    def _require_owner(cls, record: ProjectRecord, principal: Principal) -> None:
        if not cls._is_owner(record, principal):
            raise PermissionDenied(
                f"only owners of project {record.name!r} and admins may manage its members"
            )

    @staticmethod
    def _keep_an_owner(record: ProjectRecord, member: ProjectMember, new_role: str | None) -> None:
        owners = [m for m in record.members if m.role == "owner"]
        if member.role == "owner" and new_role != "owner" and len(owners) == 1:
            raise InvalidInput(
                f"{member.user.name} is the last owner of project {record.name!r}: "
                "make someone else an owner first"
            )

    # -- rows -----------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, name: str) -> ProjectRecord:
        record = session.scalar(
            select(ProjectRecord)
            .where(ProjectRecord.name == name)
            .options(selectinload(ProjectRecord.members).selectinload(ProjectMember.user))
        )
        if record is None:
            raise NotFound(f"project {name!r} not found (see `atelier projects list`)")
        return record

    def _project(self, record: ProjectRecord) -> Project:
        members = sorted(
            (Member(m.user.name, m.role, m.added_at) for m in record.members),
            key=lambda m: (m.role != "owner", m.name),
        )
        return Project(
            name=record.name,
            description=record.description,
            path=self.root / record.path,
            created_by=record.created_by,
            created_at=record.created_at,
            updated_at=record.updated_at,
            members=tuple(members),
        )


def project_name_for_path(path: Path, folder: Path) -> str | None:
    """The name of the project under ``folder`` that holds ``path``, without a database."""
    try:
        relative = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    if not relative.parts or relative.parts[0].startswith("."):
        return None
    return relative.parts[0]
