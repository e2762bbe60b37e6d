"""The audit log: logins (good and bad), token use and admin actions, readable by admins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from atelier.backends.metadata import AuditEvent, Database


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    success: bool
    client: str | None
    detail: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def listeners(self) -> list[Callable[[AuditEntry], None]]:
        """Called with each entry stored (activity derives from audited changes): shared by
        every AuditLog of one database, since several services make their own. A listener that
        fails is logged, never failing the audited action."""
        found: list[Callable[[AuditEntry], None]] = self.db.audit_listeners
        return found

    def record(
        self,
        action: str,
        *,
        actor: str | None,
        target: str | None = None,
        success: bool = True,
        client: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.db.session() as session:
            event = AuditEvent(
                action=action,
                actor=actor,
                target=target,
                success=success,
                client=client,
                detail=detail,
            )
            session.add(event)
            session.flush()
            entry = AuditEntry(event.id, event.at, actor, action, target, success, client, detail)
        for listener in self.listeners:
            try:
                listener(entry)
            except Exception:
                logging.getLogger(__name__).exception("audit listener failed on %s", action)

    def entries(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``since`` included, ``until`` excluded."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        with self.db.session() as session:
            return [
                AuditEntry(e.id, e.at, e.actor, e.action, e.target, e.success, e.client, e.detail)
                for e in session.scalars(query)
            ]
