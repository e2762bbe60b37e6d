"""Feedback waiting on a person's apps: what end users said lately about the apps they own,
so that the home page shows it without opening each app's feedback page.

"Lately" is the last :data:`DAYS` days (feedback carries no "read" mark); the newest comments
come along, without the inputs of the predictions (those may hold personal data, shown masked
on the feedback page only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import AppFeedback, AppRecord, utcnow

DAYS = 7


@dataclass(frozen=True)
class Waiting:
    """Feedback on one app in the last :data:`DAYS` days."""

    app: str
    title: str
    entries: int
    wrong: int
    latest: datetime
    #: The newest non-empty comment, shortened.
    comment: str


def waiting(db: Database, owner: str, days: int = DAYS) -> list[Waiting]:
    """Recent feedback on the apps ``owner`` owns, the app with the newest entry first."""
    since = utcnow() - timedelta(days=days)
    wrong = func.sum(case((AppFeedback.verdict == "wrong", 1), else_=0))
    query = (
        select(
            AppRecord.name,
            AppRecord.title,
            func.count(AppFeedback.id),
            wrong,
            func.max(AppFeedback.created_at),
        )
        .join(AppFeedback, AppFeedback.app_id == AppRecord.id)
        .where(AppRecord.owner == owner, AppFeedback.created_at >= since)
        .group_by(AppRecord.name, AppRecord.title)
    )
    found = []
    with db.session() as session:
        for name, title, count, wrongs, latest in session.execute(query):
            comment = session.scalar(
                select(AppFeedback.comment)
                .join(AppRecord, AppRecord.id == AppFeedback.app_id)
                .where(AppRecord.name == name, AppFeedback.comment != "")
                .order_by(AppFeedback.id.desc())
                .limit(1)
            )
            text = (comment or "").strip()
            found.append(
                Waiting(
                    name,
                    title or name,
                    int(count),
                    int(wrongs or 0),
                    latest,
                    text if len(text) <= 140 else text[:139] + "…",
                )
            )
    return sorted(found, key=lambda w: w.latest, reverse=True)
