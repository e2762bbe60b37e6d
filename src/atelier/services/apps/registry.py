"""Apps and who may use them.

An app is ``model`` (a page generated from a registered model's signature) or hosted
(``streamlit``/``dash``: the team's own script run in a project's environment). Admins and
scientists see every app; a viewer sees only the running apps shared with them, by name or
with every logged-in user. The owner (or an admin) shares, pauses, resumes and deletes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atelier.backends.metadata import AppRecord, AppShare, Database, User
from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
KINDS = ("model", "streamlit", "dash")
#: Roles that see every app and may publish apps.
BUILDERS = frozenset({"admin", "scientist"})


@dataclass(frozen=True)
class AppInfo:
    name: str
    kind: str
    title: str
    description: str
    model: str | None
    project: str | None
    script: str | None
    status: str
    shared_with_all: bool
    shared_with: tuple[str, ...]
    owner: str
    created_at: datetime
    updated_at: datetime

    @property
    def url(self) -> str:
        return f"/apps/{self.name}" + ("" if self.kind == "model" else "/")

    @property
    def hosted(self) -> bool:
        return self.kind != "model"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "model": self.model,
            "project": self.project,
            "status": self.status,
            "shared_with_all": self.shared_with_all,
            "shared_with": list(self.shared_with),
            "owner": self.owner,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidInput(
            f"app name {name!r} is not valid: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter (it becomes /apps/NAME)"
        )
    return name


class Apps:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading -------------------------------------------------------------------------

    def get(self, name: str) -> AppInfo:
        with self.db.session() as session:
            return _info(session, self._row(session, name))

    def list(self, principal: Principal | None = None) -> list[AppInfo]:
        """Every app (admins, scientists, no principal), or those a viewer may use."""
        with self.db.session() as session:
            rows = session.scalars(select(AppRecord).order_by(AppRecord.name)).all()
            apps = [_info(session, row) for row in rows]
        if principal is None:
            return apps
        return [app for app in apps if can_use(app, principal)]

    def for_user(self, name: str, principal: Principal) -> AppInfo:
        """The app, if ``principal`` may use it; a viewer gets NotFound for the others, so
        that app names they were not given stay hidden."""
        try:
            app = self.get(name)
        except NotFound:
            raise NotFound(f"no app {name!r} is shared with you") from None
        if not can_see(app, principal):
            raise NotFound(f"no app {name!r} is shared with you")
        if app.status != "running" and principal.role not in BUILDERS:
            raise Conflict(f"app {name!r} is paused: ask its owner ({app.owner}) to resume it")
        return app

    # -- writing -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        kind: str,
        *,
        owner: str,
        title: str = "",
        description: str = "",
        model: str | None = None,
        project: str | None = None,
        script: str | None = None,
    ) -> AppInfo:
        check_name(name)
        if kind not in KINDS:
            raise InvalidInput(f"app kind {kind!r} is not one of {', '.join(KINDS)}")
        try:
            with self.db.session() as session:
                row = AppRecord(
                    name=name,
                    kind=kind,
                    title=(title or name).strip()[:255],
                    description=description,
                    model=model,
                    project=project,
                    script=script,
                    status="running",
                    shared_with_all=False,
                    owner=owner,
                )
                session.add(row)
                session.flush()
                return _info(session, row)
        except IntegrityError:
            raise Conflict(
                f"an app named {name!r} exists already: choose another name or delete it"
            ) from None

    def update(self, name: str, principal: Principal, **fields: Any) -> AppInfo:
        """Change ``model``, ``script``, ``project``, ``title``, ``description`` or a hosted
        app's ``kind``."""
        allowed = {"model", "script", "project", "title", "description", "kind"}
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of an app")
        with self.db.session() as session:
            row = self._managed(session, name, principal)
            if "kind" in fields and (fields["kind"] not in KINDS or row.kind == "model"):
                raise InvalidInput(f"app {name!r} cannot become a {fields['kind']} app")
            for key, value in fields.items():
                setattr(row, key, value)
            session.flush()
            return _info(session, row)

    def share(
        self,
        name: str,
        principal: Principal,
        *,
        users: Sequence[str] | None = None,
        everyone: bool | None = None,
        remove: Sequence[str] | None = None,
    ) -> AppInfo:
        """Share with named users and/or every logged-in user (``everyone``), or stop sharing
        with the users in ``remove``."""
        with self.db.session() as session:
            row = self._managed(session, name, principal)
            if everyone is not None:
                row.shared_with_all = everyone
            current = set(
                session.scalars(select(AppShare.user_id).where(AppShare.app_id == row.id))
            )
            for user_name in users or []:
                user = _user(session, user_name)
                if user.id not in current:
                    session.add(AppShare(app_id=row.id, user_id=user.id))
                    current.add(user.id)
            for user_name in remove or []:
                user = _user(session, user_name)
                session.execute(
                    delete(AppShare).where(AppShare.app_id == row.id, AppShare.user_id == user.id)
                )
            session.flush()
            return _info(session, row)

    def set_status(self, name: str, principal: Principal, status: str) -> AppInfo:
        if status not in ("running", "paused"):
            raise InvalidInput(f"app status {status!r} is not running or paused")
        with self.db.session() as session:
            row = self._managed(session, name, principal)
            row.status = status
            session.flush()
            return _info(session, row)

    def delete(self, name: str, principal: Principal) -> AppInfo:
        with self.db.session() as session:
            row = self._managed(session, name, principal)
            info = _info(session, row)
            session.delete(row)
        return info

    # -- helpers -------------------------------------------------------------------------

    def _row(self, session: Session, name: str) -> AppRecord:
        row = session.scalar(select(AppRecord).where(AppRecord.name == name))
        if row is None:
            raise NotFound(f"no app {name!r}: see `atelier apps list`")
        return row

    def _managed(self, session: Session, name: str, principal: Principal) -> AppRecord:
        row = self._row(session, name)
        if not can_manage(row.owner, principal):
            raise PermissionDenied(
                f"only the owner of app {name!r} ({row.owner}) or an admin may change it"
            )
        return row


def can_see(app: AppInfo, principal: Principal) -> bool:
    if principal.role in BUILDERS:
        return True
    return app.shared_with_all or principal.name in app.shared_with


def can_use(app: AppInfo, principal: Principal) -> bool:
    return can_see(app, principal) and (app.status == "running" or principal.role in BUILDERS)


def can_manage(owner: str, principal: Principal) -> bool:
    return principal.role == "admin" or (principal.role in BUILDERS and principal.name == owner)


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found: create it first (atelier users create)")
    return user


def _info(session: Session, row: AppRecord) -> AppInfo:
    shared = session.scalars(
        select(User.name)
        .join(AppShare, AppShare.user_id == User.id)
        .where(AppShare.app_id == row.id)
        .order_by(User.name)
    ).all()
    return AppInfo(
        name=row.name,
        kind=row.kind,
        title=row.title,
        description=row.description,
        model=row.model,
        project=row.project,
        script=row.script,
        status=row.status,
        shared_with_all=row.shared_with_all,
        shared_with=tuple(shared),
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
