"""The activity feeds: events recorded by the services that act, read per user and per project.

A user's feed holds what concerns them and what they may see: mentions of them and feedback on
their apps (events addressed to them), everything in their projects, new versions of the tables
they use (own, wrote to, or discussed), and comments on the subjects they discussed. A
project's feed holds everything recorded in that project, for its members and admins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from atelier.backends.metadata import (
    AppRecord,
    Database,
    Dataset,
    ProjectMember,
    ProjectRecord,
    User,
)
from atelier.backends.metadata.models import ActivityEvent, CommentRecord
from atelier.services.activity.runs import ProjectRuns
from atelier.services.activity.subjects import (
    READERS,
    Seen,
    Subject,
    Subjects,
    link,
    people_only,
)

if TYPE_CHECKING:
    from atelier.services.apps import FeedbackEntry
    from atelier.services.apps.registry import AppInfo
    from atelier.services.auth import Principal
    from atelier.services.auth.audit import AuditEntry
    from atelier.services.tracking.ownership import Ownership

log = logging.getLogger(__name__)

#: The kinds of activity (what a webhook may subscribe to).
EVENT_KINDS = (
    "comment",
    "run",
    "mention",
    "table.version",
    "model.register",
    "model.alias",
    "app.feedback",
)
MAX_LIMIT = 200


@dataclass(frozen=True)
class ActivityItem:
    id: int
    at: datetime
    kind: str
    actor: str | None
    subject_kind: str
    subject_id: str
    project: str | None
    summary: str
    #: The subject's page in the portal.
    link: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def _item(row: ActivityEvent) -> ActivityItem:
    return ActivityItem(
        row.id,
        row.at,
        row.kind,
        row.actor,
        row.subject_kind,
        row.subject_id,
        row.project,
        row.summary,
        link(row.subject_kind, row.subject_id),
        dict(row.detail or {}),
    )


class Activity:
    def __init__(
        self,
        db: Database,
        subjects: Subjects,
        *,
        owners: Callable[[], Ownership] | None = None,
        notify: Callable[[list[int]], object] | None = None,
        tracking: Callable[[], Ownership | None] | None = None,
    ) -> None:
        """``owners`` finds the project of a model (for audited registrations); ``notify``
        is given the ids of new events (the webhooks' queue); ``tracking`` gives MLflow's
        store where runs are read from, None while the workspace has none."""
        self.db = db
        self.subjects = subjects
        self._owners = owners
        self.notify = notify
        self.runs = ProjectRuns(db, self.record, tracking or (lambda: None))

    # -- recording ---------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        subject: Subject,
        *,
        actor: str | None,
        summary: str,
        detail: dict[str, Any] | None = None,
        recipients: Iterable[int] = (),
        at: datetime | None = None,
    ) -> list[int]:
        """One event for whoever may see ``subject``, or one per recipient (user ids) when
        it is addressed to some users only. Returns the new events' ids."""
        targets: list[int | None] = list(dict.fromkeys(recipients)) or [None]
        with self.db.session() as session:
            rows = [
                ActivityEvent(
                    kind=kind,
                    actor=actor,
                    subject_kind=subject.kind,
                    subject_id=subject.id,
                    project=subject.project,
                    recipient_id=recipient,
                    summary=summary,
                    detail=detail,
                    **({"at": at} if at is not None else {}),
                )
                for recipient in targets
            ]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
        if self.notify is not None:
            try:
                self.notify(ids)
            except Exception:  # a notification never fails the action that caused it
                log.exception("could not queue webhooks for activity %s", ids)
        return ids

    def from_audit(self, entry: AuditEntry) -> None:
        """Turn an audited change into activity: new table versions, model registrations,
        alias moves. Called after the audit entry is stored; never raises."""
        if not entry.success or not entry.target:
            return
        try:
            self._from_audit(entry)
        except Exception:
            log.exception("could not record activity for audit entry %s", entry.id)

    def _from_audit(self, entry: AuditEntry) -> None:
        detail = entry.detail or {}
        actor = entry.actor
        target = str(entry.target)
        if entry.action == "table.upload":
            version = detail.get("version")
            self.record(
                "table.version",
                Subject("table", target),
                actor=actor,
                summary=f"{actor} wrote version {version} of {target}"
                if version is not None
                else f"{actor} wrote a new version of {target}",
                detail={"version": version, "rows": detail.get("rows"), "mode": detail.get("mode")},
            )
        elif entry.action == "model.register":
            name = target.partition("/")[0]
            self.record(
                "model.register",
                Subject("model", target, self._model_project(name)),
                actor=actor,
                summary=f"{actor} registered {target}",
                detail={"run_id": detail.get("run_id"), "alias": detail.get("alias")},
            )
        elif entry.action in ("model.alias", "model.alias.delete"):
            name, _, alias = target.partition("@")
            version = detail.get("version")
            moved = entry.action == "model.alias"
            self.record(
                "model.alias",
                Subject("model", f"{name}/{version}", self._model_project(name)),
                actor=actor,
                summary=f"{actor} moved {target} to version {version}"
                if moved
                else f"{actor} removed {target} (it pointed at version {version})",
                detail={
                    "alias": alias,
                    "version": version,
                    "previous": detail.get("previous"),
                    "removed": not moved,
                },
            )

    def feedback_given(self, app: AppInfo, entry: FeedbackEntry) -> None:
        """Tell an app's owner of feedback on it (never failing the feedback)."""
        if entry.user == app.owner:
            return
        try:
            with self.db.session() as session:
                owner = session.scalar(select(User.id).where(User.name == app.owner))
            if owner is None:
                return
            said = f"{entry.verdict}" + (f": {entry.comment[:140]}" if entry.comment else "")
            self.record(
                "app.feedback",
                Subject("app", app.name, None, app.owner),
                actor=entry.user,
                summary=f"{entry.user} gave feedback on app {app.name}: {said}",
                detail={"verdict": entry.verdict, "prediction_id": entry.prediction_id},
                recipients=[owner],
            )
        except Exception:
            log.exception("could not record feedback activity for app %s", app.name)

    def _model_project(self, name: str) -> str | None:
        if self._owners is None:
            return None
        return self._owners().model(name).project

    # -- reading -----------------------------------------------------------------------------

    def feed(
        self, principal: Principal, *, limit: int = 50, before_id: int | None = None
    ) -> list[ActivityItem]:
        """``principal``'s feed, newest first (see the module's description)."""
        people_only(principal, "read activity")
        condition, seen = self._concerning(principal)
        if before_id is None:
            self.runs.sync(seen.projects)
        return self._read(principal, condition, seen, limit, before_id)

    def audience(self, event: ActivityEvent) -> ColumnElement[bool]:
        """A condition on :class:`User`: the users whose feed holds ``event`` (what
        :meth:`feed` and :meth:`_concerning` select for one reader, turned around to select
        the readers of one event). Events about apps need :meth:`Subjects.may_see` too (who
        an app is shared with is not in this condition)."""
        subject = (event.subject_kind, event.subject_id)
        concerns: list[ColumnElement[bool]] = []
        if event.recipient_id is not None:
            concerns.append(User.id == event.recipient_id)
        else:
            if event.project is not None:
                concerns.append(_member_of(event.project))
            if event.kind == "comment":
                if event.subject_kind == "app":
                    concerns.append(
                        exists().where(
                            AppRecord.name == event.subject_id, AppRecord.owner == User.name
                        )
                    )
                concerns.append(_discussed(*subject))
        if event.kind == "table.version":
            wrote = aliased(ActivityEvent)
            concerns.append(
                or_(
                    exists().where(Dataset.name == event.subject_id, Dataset.owner == User.name),
                    exists().where(
                        wrote.kind == "table.version",
                        wrote.subject_id == event.subject_id,
                        wrote.actor == User.name,
                    ),
                    _discussed("table", event.subject_id),
                )
            )
        if not concerns:
            return false()
        # Subjects.may_see: admins see everything; others a project's events only as its
        # members, and tables, experiments, runs and models only in the reading roles.
        visible: list[ColumnElement[bool]] = []
        if event.project is not None:
            visible.append(_member_of(event.project))
        if event.subject_kind != "app":
            visible.append(User.role.in_(sorted(READERS)))
        return and_(or_(*concerns), or_(User.role == "admin", and_(true(), *visible)))

    def _concerning(self, principal: Principal) -> tuple[Any, Seen]:
        """The condition of the events that concern ``principal``, and what they may see."""
        seen = self.subjects.seen_by(principal)
        with self.db.session() as session:
            tables = set(
                session.scalars(select(Dataset.name).where(Dataset.owner == principal.name))
            )
            tables.update(
                session.scalars(
                    select(ActivityEvent.subject_id).where(
                        ActivityEvent.kind == "table.version",
                        ActivityEvent.actor == principal.name,
                    )
                )
            )
            discussed = {
                (str(kind), str(subject_id))
                for kind, subject_id in session.execute(
                    select(CommentRecord.subject_kind, CommentRecord.subject_id)
                    .where(CommentRecord.author == principal.name)
                    .distinct()
                )
            }
        tables.update(subject_id for kind, subject_id in discussed if kind == "table")
        with self.db.session() as session:
            apps = set(
                session.scalars(select(AppRecord.name).where(AppRecord.owner == principal.name))
            )
        by_kind: dict[str, set[str]] = {}
        for kind, subject_id in discussed:
            by_kind.setdefault(kind, set()).add(subject_id)
        concerns = [
            ActivityEvent.recipient_id == principal.user_id,
            and_(
                ActivityEvent.recipient_id.is_(None),
                ActivityEvent.project.in_(sorted(seen.projects)),
            ),
            and_(
                ActivityEvent.kind == "table.version",
                ActivityEvent.subject_id.in_(sorted(tables)),
            ),
            # Comments on my apps, and where I commented before.
            and_(
                ActivityEvent.recipient_id.is_(None),
                ActivityEvent.kind == "comment",
                ActivityEvent.subject_kind == "app",
                ActivityEvent.subject_id.in_(sorted(apps)),
            ),
        ]
        for kind, ids in sorted(by_kind.items()):
            concerns.append(
                and_(
                    ActivityEvent.recipient_id.is_(None),
                    ActivityEvent.kind == "comment",
                    ActivityEvent.subject_kind == kind,
                    ActivityEvent.subject_id.in_(sorted(ids)),
                )
            )
        return or_(*concerns), seen

    def project_feed(
        self,
        project: str,
        principal: Principal,
        *,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[ActivityItem]:
        """Everything recorded in ``project``, newest first: for its members and admins."""
        people_only(principal, "read activity")
        self.subjects.check_project(principal, project)
        if before_id is None:
            self.runs.sync([project])
        condition = and_(
            ActivityEvent.project == project,
            or_(
                ActivityEvent.recipient_id.is_(None),
                ActivityEvent.recipient_id == principal.user_id,
            ),
        )
        return self._read(principal, condition, self.subjects.seen_by(principal), limit, before_id)

    def event(self, event_id: int) -> ActivityItem | None:
        with self.db.session() as session:
            row = session.get(ActivityEvent, event_id)
            return _item(row) if row is not None else None

    def _read(
        self,
        principal: Principal,
        condition: Any,
        seen: Seen,
        limit: int,
        before_id: int | None,
    ) -> list[ActivityItem]:
        limit = max(1, min(int(limit), MAX_LIMIT))
        found: list[ActivityItem] = []
        # Events the reader may not see are skipped: read in pages until the feed is full.
        while len(found) < limit:
            query = (
                select(ActivityEvent)
                .where(condition)
                .order_by(ActivityEvent.id.desc())
                .limit(limit * 2)
            )
            if before_id is not None:
                query = query.where(ActivityEvent.id < before_id)
            with self.db.session() as session:
                rows = [_item(row) for row in session.scalars(query)]
            if not rows:
                break
            found.extend(
                item
                for item in rows
                if self.subjects.may_see(
                    principal, item.subject_kind, item.subject_id, item.project, seen
                )
            )
            before_id = rows[-1].id
        return found[:limit]


def _member_of(project: str) -> ColumnElement[bool]:
    """A condition on :class:`User`: a member of ``project``."""
    return exists().where(
        ProjectMember.user_id == User.id,
        ProjectMember.project_id == ProjectRecord.id,
        ProjectRecord.name == project,
    )


def _discussed(kind: str, subject_id: str) -> ColumnElement[bool]:
    """A condition on :class:`User`: commented on the subject."""
    return exists().where(
        CommentRecord.author == User.name,
        CommentRecord.subject_kind == kind,
        CommentRecord.subject_id == subject_id,
    )
