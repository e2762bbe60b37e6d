"""Subjects of discussion and activity, and who may see them.

A subject is a table (``bank.customers``), an experiment (its id), a run (its id), a model
(``churn``) or a model version (``churn/2``), or an app (its name). The rules follow the
subject's own pages, plus one for projects:

* tables: the roles that read the catalog (admins, scientists);
* experiments, runs and models: the roles that read tracking (admins, scientists);
* apps: whoever may see the app (its viewers too: those it is shared with);
* whatever belongs to a project (an experiment tagged with it, its runs, a model registered in
  it) is discussed among the project's members: other users neither read nor write its
  comments, nor get its activity, whatever their role; admins see everything.

Tokens made for code never reach discussion or activity: they act for a person, and a comment
is that person speaking.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import select

from atelier.backends.metadata import Database, ProjectMember, ProjectRecord
from atelier.errors import InvalidInput, NotFound, PermissionDenied

if TYPE_CHECKING:
    from atelier.services.apps.registry import Apps
    from atelier.services.auth import Principal
    from atelier.services.catalog import Catalog
    from atelier.services.tracking.ownership import Ownership

#: Kinds of subjects comments are about.
KINDS = ("table", "experiment", "run", "model", "app")
#: Roles that read tables, experiments, runs and models (viewers only use apps).
READERS = frozenset({"admin", "scientist"})
#: Subject ids: names, ids, ``schema.table``, ``model/version``; never a path or markup.
SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,254}$")


@dataclass(frozen=True)
class Subject:
    kind: str
    id: str
    #: The project it belongs to (its discussion is its members'), or None.
    project: str | None = None
    #: Who owns it, where known (an app's owner is told of feedback and comments).
    owner: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def link(self) -> str:
        return link(self.kind, self.id)


def link(kind: str, subject_id: str) -> str:
    """The portal page of a subject (runs have their discussion page)."""
    quoted = quote(subject_id, safe="/.@")
    if kind == "table":
        return f"/data/tables/{quoted}"
    if kind == "experiment":
        return f"/experiments/{quoted}"
    if kind == "model":
        name, _, version = subject_id.partition("/")
        target = f"/models/{quote(name, safe='.')}"
        return f"{target}?version={quote(version, safe='')}" if version else target
    if kind == "app":
        return f"/apps/{quoted}"
    return f"/discussion/{kind}/{quoted}"


def check_kind(kind: str, subject_id: str) -> tuple[str, str]:
    if kind not in KINDS:
        raise InvalidInput(f"subject kind {kind!r} is not one of {', '.join(KINDS)}")
    if not SUBJECT_ID.match(subject_id or "") or ".." in subject_id:
        raise InvalidInput(
            f"{kind} id {subject_id!r} is not valid: letters, digits, '_', '.', '-' and '/'"
        )
    return kind, subject_id


def people_only(principal: Principal, doing: str) -> None:
    if principal.scoped:
        raise PermissionDenied(
            f"the token {principal.label!r} is for code and may not {doing}: comments and "
            f"activity are for people (use a personal token of {principal.name})"
        )


@dataclass
class Seen:
    """What one reader may see, remembered while a feed is filtered."""

    projects: frozenset[str]
    apps: dict[str, bool] = field(default_factory=dict)


class Subjects:
    """Find subjects and decide who sees them (see the module's rules)."""

    def __init__(
        self,
        db: Database,
        *,
        catalog: Callable[[], Catalog],
        owners: Callable[[], Ownership],
        apps: Callable[[], Apps],
    ) -> None:
        self.db = db
        self._catalog = catalog
        self._owners = owners
        self._apps = apps

    def projects_of(self, principal: Principal) -> frozenset[str]:
        with self.db.session() as session:
            names = session.scalars(
                select(ProjectRecord.name)
                .join(ProjectMember, ProjectMember.project_id == ProjectRecord.id)
                .where(ProjectMember.user_id == principal.user_id)
            ).all()
        return frozenset(names)

    def check_project(self, principal: Principal, project: str) -> None:
        """Refuse a non-member (not an admin) the discussion and activity of ``project``."""
        if principal.role == "admin":
            return
        if project not in self.projects_of(principal):
            raise PermissionDenied(
                f"{principal.name} is not a member of project {project!r}: its discussion and "
                "activity are for its members"
            )

    def resolve(self, principal: Principal, kind: str, subject_id: str) -> Subject:
        """The subject, if it exists and ``principal`` may see it (NotFound, PermissionDenied
        otherwise: a viewer learns nothing of apps not shared with them)."""
        people_only(principal, "read or write comments")
        kind, subject_id = check_kind(kind, subject_id)
        if kind == "app":
            subject = self._app(principal, subject_id)
        else:
            if principal.role not in READERS:
                raise PermissionDenied(
                    f"{principal.name} ({principal.role}) may not see {kind}s: viewers only use "
                    "the apps shared with them"
                )
            subject = self._find(kind, subject_id)
        if subject.project is not None:
            self.check_project(principal, subject.project)
        return subject

    def may_see(
        self, principal: Principal, kind: str, subject_id: str, project: str | None, seen: Seen
    ) -> bool:
        """Whether an event about this subject may be shown to ``principal`` (no lookup of
        the subject itself but for apps: the event carries its project)."""
        if principal.role == "admin":
            return True
        if project is not None and project not in seen.projects:
            return False
        if kind != "app":
            return principal.role in READERS
        if subject_id not in seen.apps:
            from atelier.services.apps.registry import can_see

            try:
                seen.apps[subject_id] = can_see(self._apps().get(subject_id), principal)
            except NotFound:
                seen.apps[subject_id] = False
        return seen.apps[subject_id]

    def app_seer(self, name: str) -> Callable[[Principal], bool]:
        """Whether a reader may see app ``name`` (as :meth:`may_see` decides for an app's
        events, the project aside), the app read once for many readers."""
        from atelier.services.apps.registry import can_see

        try:
            app = self._apps().get(name)
        except NotFound:
            return lambda principal: principal.role == "admin"
        return lambda principal: principal.role == "admin" or can_see(app, principal)

    def seen_by(self, principal: Principal) -> Seen:
        return Seen(self.projects_of(principal))

    # -- finding each kind -------------------------------------------------------------------

    def _find(self, kind: str, subject_id: str) -> Subject:
        if kind == "table":
            catalog = self._catalog()
            ref = catalog.resolve(subject_id)
            catalog.columns(ref)  # NotFound for a table that does not exist
            return Subject("table", ref.name)
        owners = self._owners()
        if kind == "experiment":
            owned = owners.experiment(subject_id)
            return Subject("experiment", subject_id, owned.project, owned.owner)
        if kind == "run":
            owned = owners.run(subject_id)
            return Subject("run", subject_id, owned.project, owned.owner)
        name, _, version = subject_id.partition("/")
        owned = owners.model(name)
        if version:
            if not version.isdigit():
                raise InvalidInput(
                    f"model version {subject_id!r}: write NAME/VERSION, e.g. churn/2"
                )
            from mlflow.exceptions import MlflowException

            try:
                owners.client.get_model_version(name, version)
            except MlflowException:
                raise NotFound(f"model {name!r} has no version {version}") from None
        return Subject("model", subject_id, owned.project, owned.owner)

    def _app(self, principal: Principal, name: str) -> Subject:
        from atelier.services.apps.registry import can_see

        try:
            app = self._apps().get(name)
        except NotFound:
            app = None
        if app is None or not can_see(app, principal):
            raise NotFound(f"no app {name!r} is shared with you")
        return Subject("app", app.name, None, app.owner)
