"""Raw-access grants to personal data and the masking rules on the wire (``/pii/grants``,
``/pii/rules``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class NewGrant(BaseModel):
    """``POST /pii/grants`` (admins): raw access for ``user`` to ``table`` or to ``kind``
    (exactly one), with a reason and an expiry (``days`` or ``expires_at``, exactly one)."""

    user: str = Field(min_length=1, max_length=64)
    table: str | None = Field(default=None, max_length=255)
    kind: str | None = Field(default=None, max_length=32)
    reason: str = Field(max_length=1000)
    days: int | None = None
    expires_at: datetime | None = None
    #: Raw values may leave the server too (remote clients, downloads).
    export: bool = False


class GrantInfo(BaseModel):
    id: int
    user: str
    table: str | None = None
    kind: str | None = None
    reason: str
    export: bool = False
    granted_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None = None
    revoked_by: str | None = None
    #: Neither revoked nor expired.
    active: bool


class MaskingRule(BaseModel):
    """How values of one kind of personal data are masked: ``redact``, ``partial:N``,
    ``pseudonym``, ``generalise`` or ``null`` (``default``: not changed by ``[pii.rules]``)."""

    kind: str
    rule: str
    default: bool
    default_rule: str
