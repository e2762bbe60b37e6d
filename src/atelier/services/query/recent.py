"""The tables a person used lately: read by their SQL (the query history) or written by their
uploads (the audit log), newest first. The home page lists them so that work resumes where it
stopped; nobody else's reads show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import QueryRecord
from atelier.services.auth import AuditLog

#: How many of the person's latest statements and uploads are looked at.
SCANNED = 60


@dataclass(frozen=True)
class RecentTable:
    """A table and when and how the person last used it."""

    name: str
    at: datetime
    #: ``queried`` (read or written by SQL) or ``uploaded``.
    how: str


def recent_tables(db: Database, user: str, limit: int = 8) -> list[RecentTable]:
    """The warehouse tables ``user`` queried or uploaded to lately, newest first (tables of
    attached sources are left out: their pages live under the source)."""
    from atelier.services.tracking.capture import referenced_tables

    seen: dict[str, RecentTable] = {}

    def add(name: str, at: datetime, how: str) -> None:
        if name not in seen or seen[name].at < at:
            seen[name] = RecentTable(name, at, how)

    query = (
        select(QueryRecord.sql, QueryRecord.started_at)
        .where(QueryRecord.user == user, QueryRecord.status == "ok")
        .order_by(QueryRecord.id.desc())
        .limit(SCANNED)
    )
    with db.session() as session:
        statements = list(session.execute(query))
    for sql, at in statements:
        for name, _, source in referenced_tables(sql):
            if not source:
                add(name, at, "queried")
    for entry in AuditLog(db).entries(limit=SCANNED, action="table.upload", actor=user):
        if entry.success and entry.target:
            add(entry.target, entry.at, "uploaded")
    return sorted(seen.values(), key=lambda t: t.at, reverse=True)[:limit]
