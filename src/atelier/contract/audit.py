"""The audit log on the wire (``GET /audit``, for admins)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    """One recorded action: who (``actor``), what (``action``, ``target``, ``detail``), whether
    it succeeded, and the way in (``client``: an address for HTTP, ``cli`` or ``sdk`` on the
    workspace)."""

    id: int
    at: str
    actor: str | None = None
    action: str
    target: str | None = None
    success: bool = True
    client: str | None = None
    detail: dict[str, Any] | None = None
