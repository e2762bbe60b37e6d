"""The audit log, newest first, for admins.

Filters: ``action``, ``user`` (who acted), ``since`` (included) and ``until`` (excluded), ISO
dates or times (UTC when no zone is given). ``table`` and ``kind`` filter the raw reads of
personal data (``action=pii.raw_read``, which they imply).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from atelier.contract.audit import AuditEntry
from atelier.errors import InvalidInput
from atelier.server.api.deps import workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.accounts import accounts_of
from atelier.services.pii.audit import RAW_READ, RawReadAudit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntry])
def audit_log(
    request: Request,
    limit: int = Query(100, ge=1, le=10000),
    before_id: int | None = None,
    action: str | None = None,
    user: str | None = None,
    table: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    principal: Principal = allow("admin"),
) -> list[dict[str, Any]]:
    wb = workbench(request)
    since, until = _utc(since), _utc(until)
    if action == RAW_READ or table or kind:
        if action not in (None, "", RAW_READ):
            raise InvalidInput(
                f"table and kind filter the raw reads of personal data (action={RAW_READ}), "
                f"not {action}"
            )
        reads = RawReadAudit(wb.db, wb.audit).entries(
            principal,
            user=user or None,
            table=table or None,
            kind=kind or None,
            since=since,
            until=until,
            limit=limit,
            before_id=before_id,
        )
        return [read.as_entry() for read in reads]
    entries = accounts_of(wb).audit_entries(
        principal,
        limit=limit,
        before_id=before_id,
        action=action,
        actor=user or None,
        since=since,
        until=until,
    )
    return [entry.as_dict() for entry in entries]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
