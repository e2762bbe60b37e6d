"""Comments on subjects: post, read, edit (the author) and delete (the author or an admin).

Every call first finds the subject as the caller may see it (:class:`Subjects`), so a user who
may not see a subject can neither read nor write its comments; a comment's mentions reach only
the mentioned users who may see the subject too (the others are not told, and the mention stays
plain text). A deleted comment keeps its place in the thread with its text removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.backends.metadata import Database, User
from atelier.backends.metadata.models import CommentMention, CommentRecord
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.activity.subjects import Subject, Subjects
from atelier.services.discussion.references import mentions, render_body

if TYPE_CHECKING:
    from markupsafe import Markup

    from atelier.services.activity import Activity
    from atelier.services.auth import AuditLog, Principal

MAX_BODY = 10_000
#: Characters of a comment quoted in activity and notifications.
EXCERPT = 140
MAX_THREAD = 500


@dataclass(frozen=True)
class Comment:
    id: int
    subject_kind: str
    subject_id: str
    project: str | None
    author: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None
    mentions: tuple[str, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def html(self) -> Markup:
        """The body as safe HTML (escaped; mentions and references as links)."""
        return render_body(self.body, frozenset(self.mentions))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
            "project": self.project,
            "author": self.author,
            "body": self.body,
            "html": str(self.html),
            "mentions": list(self.mentions),
            "created_at": self.created_at.isoformat(),
            "edited_at": self.edited_at.isoformat() if self.edited_at else None,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
            "deleted_by": self.deleted_by,
        }


def check_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput("a comment needs some text")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"comment too long: {len(body)} characters, at most {MAX_BODY}")
    if "\x00" in body:
        raise InvalidInput("a comment may not contain NUL characters")
    return body


def excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


class Discussion:
    def __init__(
        self, db: Database, subjects: Subjects, activity: Activity, audit: AuditLog
    ) -> None:
        self.db = db
        self.subjects = subjects
        self.activity = activity
        self.audit = audit

    # -- reading -----------------------------------------------------------------------------

    def thread(self, principal: Principal, kind: str, subject_id: str) -> list[Comment]:
        """The comments on a subject, oldest first."""
        subject = self.subjects.resolve(principal, kind, subject_id)
        with self.db.session() as session:
            rows = session.scalars(
                select(CommentRecord)
                .where(
                    CommentRecord.subject_kind == subject.kind,
                    CommentRecord.subject_id == subject.id,
                )
                .order_by(CommentRecord.id)
                .limit(MAX_THREAD)
            ).all()
            told = self._mentioned(session, [row.id for row in rows])
            return [_comment(row, told.get(row.id, ())) for row in rows]

    def get(self, principal: Principal, comment_id: int) -> Comment:
        with self.db.session() as session:
            row = session.get(CommentRecord, int(comment_id))
            if row is None:
                raise NotFound(f"no comment {comment_id}")
            kind, subject_id = row.subject_kind, row.subject_id
        self.subjects.resolve(principal, kind, subject_id)
        with self.db.session() as session:
            return self._comment(session, session.get(CommentRecord, int(comment_id)))

    # -- writing -----------------------------------------------------------------------------

    def post(
        self,
        principal: Principal,
        kind: str,
        subject_id: str,
        body: str,
    ) -> Comment:
        """Comment on a subject as ``principal``; mentioned users who may see it are told."""
        subject = self.subjects.resolve(principal, kind, subject_id)
        body = check_body(body)
        told = self._mentionable(subject, body, principal)
        with self.db.session() as session:
            row = CommentRecord(
                subject_kind=subject.kind,
                subject_id=subject.id,
                project=subject.project,
                author=principal.name,
                body=body,
            )
            session.add(row)
            session.flush()
            session.add_all(CommentMention(comment_id=row.id, user_id=uid) for uid in told.values())
            session.flush()
            comment = self._comment(session, row)
        self.activity.record(
            "comment",
            subject,
            actor=principal.name,
            summary=f"{principal.name} commented on {subject.label}: {excerpt(body)}",
            detail={"comment_id": comment.id},
        )
        self._tell(subject, principal, comment, told)
        return comment

    def edit(self, principal: Principal, comment_id: int, body: str) -> Comment:
        """Change one's own comment (nobody else's, admins included)."""
        body = check_body(body)
        row = self._row(comment_id)
        subject = self.subjects.resolve(principal, row.subject_kind, row.subject_id)
        if row.author != principal.name:
            raise PermissionDenied(
                f"comment {comment_id} is {row.author}'s: only its author may edit it"
            )
        if row.deleted_at is not None:
            raise InvalidInput(f"comment {comment_id} was deleted")
        told = self._mentionable(subject, body, principal)
        with self.db.session() as session:
            stored = session.get(CommentRecord, row.id)
            assert stored is not None
            before = set(
                session.scalars(
                    select(CommentMention.user_id).where(CommentMention.comment_id == row.id)
                )
            )
            stored.body = body
            stored.edited_at = datetime.now(UTC)
            new = {name: uid for name, uid in told.items() if uid not in before}
            session.add_all(CommentMention(comment_id=row.id, user_id=uid) for uid in new.values())
            session.flush()
            comment = self._comment(session, stored)
        self._tell(subject, principal, comment, new)
        return comment

    def delete(
        self, principal: Principal, comment_id: int, *, client: str | None = None
    ) -> Comment:
        """Delete a comment: its author, or an admin (audited when it is someone else's)."""
        row = self._row(comment_id)
        self.subjects.resolve(principal, row.subject_kind, row.subject_id)
        if row.author != principal.name and principal.role != "admin":
            raise PermissionDenied(
                f"comment {comment_id} is {row.author}'s: only its author or an admin may delete it"
            )
        with self.db.session() as session:
            stored = session.get(CommentRecord, row.id)
            assert stored is not None
            if stored.deleted_at is None:
                stored.deleted_at = datetime.now(UTC)
                stored.deleted_by = principal.name
                stored.body = ""
            comment = self._comment(session, stored)
        if row.author != principal.name:
            self.audit.record(
                "comment.delete",
                actor=principal.name,
                target=str(comment_id),
                client=client,
                detail={"author": row.author, "subject": f"{row.subject_kind}:{row.subject_id}"},
            )
        return comment

    # -- helpers -----------------------------------------------------------------------------

    def _row(self, comment_id: int) -> CommentRecord:
        with self.db.session() as session:
            row = session.get(CommentRecord, int(comment_id))
        if row is None:
            raise NotFound(f"no comment {comment_id}")
        return row

    def _mentionable(self, subject: Subject, body: str, by: Principal) -> dict[str, int]:
        """``{name: user id}`` of the users ``body`` mentions who may see ``subject``."""
        from atelier.services.auth import Principal

        names = [n for n in mentions(body) if n != by.name]
        if not names:
            return {}
        with self.db.session() as session:
            users = session.scalars(
                select(User).where(User.name.in_(names), User.disabled.is_(False))
            ).all()
        found: dict[str, int] = {}
        for user in users:
            reader = Principal(user.id, user.name, user.role, "local")
            seen = self.subjects.seen_by(reader)
            if self.subjects.may_see(reader, subject.kind, subject.id, subject.project, seen):
                found[user.name] = user.id
        return found

    def _tell(
        self, subject: Subject, by: Principal, comment: Comment, told: dict[str, int]
    ) -> None:
        if told:
            self.activity.record(
                "mention",
                subject,
                actor=by.name,
                summary=f"{by.name} mentioned you on {subject.label}: {excerpt(comment.body)}",
                detail={"comment_id": comment.id},
                recipients=told.values(),
            )

    def _comment(self, session: Any, row: CommentRecord | None) -> Comment:
        assert row is not None
        return _comment(row, self._mentioned(session, [row.id]).get(row.id, ()))

    @staticmethod
    def _mentioned(session: Any, comment_ids: list[int]) -> dict[int, list[str]]:
        """``{comment id: names told}`` of these comments, in one query."""
        found: dict[int, list[str]] = {}
        if not comment_ids:
            return found
        rows = session.execute(
            select(CommentMention.comment_id, User.name)
            .join(User, CommentMention.user_id == User.id)
            .where(CommentMention.comment_id.in_(comment_ids))
        )
        for comment_id, name in rows:
            found.setdefault(int(comment_id), []).append(str(name))
        return found


def _comment(row: CommentRecord, mentioned: Iterable[str]) -> Comment:
    return Comment(
        row.id,
        row.subject_kind,
        row.subject_id,
        row.project,
        row.author,
        row.body,
        row.created_at,
        row.edited_at,
        row.deleted_at,
        row.deleted_by,
        tuple(sorted(mentioned)),
    )
