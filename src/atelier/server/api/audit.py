"""The audit log, newest first, for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from atelier.contract.audit import AuditEntry
from atelier.server.api.deps import workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.accounts import accounts_of

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntry])
def audit_log(
    request: Request,
    limit: int = Query(100, ge=1, le=10000),
    before_id: int | None = None,
    action: str | None = None,
    principal: Principal = allow("admin"),
) -> list[dict[str, Any]]:
    entries = accounts_of(workbench(request)).audit_entries(
        principal, limit=limit, before_id=before_id, action=action
    )
    return [entry.as_dict() for entry in entries]
