"""The query history (metadata table ``query_history``): one row per statement a user ran.

A row is written as ``running`` before the statement starts, so a query that never ends (the
process died) still shows, and is finished with ``ok``, ``error``, ``cancelled`` or
``timeout``, its duration, its row count and its error message.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import QueryRecord, utcnow
from atelier.errors import NotFound

Status = Literal["running", "ok", "error", "cancelled", "timeout"]
STATUSES: tuple[Status, ...] = ("running", "ok", "error", "cancelled", "timeout")

#: Longest SQL text and error message kept (a pasted 10 MB query would bloat the table).
MAX_TEXT = 100_000


@dataclass(frozen=True)
class QueryInfo:
    """One entry of the history."""

    query_id: int
    user: str
    sql: str
    started_at: datetime
    status: str
    duration_ms: float | None
    rows: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "started_at": self.started_at.isoformat()}


class History:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, user: str, sql: str) -> QueryInfo:
        record = QueryRecord(user=user, sql=sql[:MAX_TEXT], started_at=utcnow(), status="running")
        with self.db.session() as session:
            session.add(record)
            session.flush()
            return _info(record)

    def finish(
        self,
        query_id: int,
        status: Status,
        *,
        duration_ms: float,
        rows: int | None,
        error: str | None = None,
    ) -> None:
        with self.db.session() as session:
            record = session.get(QueryRecord, query_id)
            if record is None:  # deleted meanwhile: nothing to finish
                return
            record.status = status
            record.duration_ms = round(duration_ms, 3)
            record.rows = rows
            record.error = error[:MAX_TEXT] if error is not None else None

    def get(self, query_id: int) -> QueryInfo:
        with self.db.session() as session:
            record = session.get(QueryRecord, query_id)
            if record is None:
                raise NotFound(f"no query {query_id} in the query history")
            return _info(record)

    def list(self, user: str, *, limit: int = 50) -> builtins.list[QueryInfo]:
        """``user``'s queries, newest first."""
        query = (
            select(QueryRecord)
            .where(QueryRecord.user == user)
            .order_by(QueryRecord.started_at.desc(), QueryRecord.id.desc())
            .limit(limit)
        )
        with self.db.session() as session:
            return [_info(record) for record in session.scalars(query)]


def _info(record: QueryRecord) -> QueryInfo:
    return QueryInfo(
        query_id=record.id,
        user=record.user,
        sql=record.sql,
        started_at=record.started_at,
        status=record.status,
        duration_ms=record.duration_ms,
        rows=record.rows,
        error=record.error,
    )
