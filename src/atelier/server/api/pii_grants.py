"""Raw-access grants to personal data (admins create and revoke them; everyone sees their own)
and the workspace's masking rules. Rules and audit: :mod:`atelier.services.pii.grants`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from atelier.contract.pii_grants import GrantInfo, MaskingRule, NewGrant
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA_READ
from atelier.services.pii.grants import grants_of
from atelier.services.pii.policies import policies_of

router = APIRouter(prefix="/pii", tags=["personal data"])


@router.get("/grants")
def list_grants(
    request: Request,
    user: str | None = None,
    all: bool = False,
    principal: Principal = allow("admin", "scientist", "viewer"),
) -> list[GrantInfo]:
    """Active grants (``all=true``: expired and revoked too): an admin's: everyone's, or
    ``user``'s; anyone else's: their own."""
    listed = grants_of(workbench(request)).list_grants(principal, user=user, everything=all)
    return [GrantInfo(**grant.as_dict()) for grant in listed]


@router.post("/grants", status_code=201)
def create_grant(
    body: NewGrant, request: Request, principal: Principal = allow("admin", "scientist")
) -> GrantInfo:
    """Admins only (a scientist's attempt is refused and audited)."""
    made = grants_of(workbench(request)).grant(
        principal,
        body.user,
        table=body.table,
        kind=body.kind,
        reason=body.reason,
        days=body.days,
        expires_at=body.expires_at,
        export=body.export,
        client=client(request),
    )
    return GrantInfo(**made.as_dict())


@router.delete("/grants/{grant_id}")
def revoke_grant(
    grant_id: int, request: Request, principal: Principal = allow("admin", "scientist")
) -> GrantInfo:
    """Admins only."""
    revoked = grants_of(workbench(request)).revoke(principal, grant_id, client=client(request))
    return GrantInfo(**revoked.as_dict())


@router.get("/rules")
def masking_rules(
    request: Request,
    principal: Principal = allow("admin", "scientist", "viewer", scopes=(DATA_READ,)),
) -> list[MaskingRule]:
    """The masking rule of each kind of personal data (never the pseudonym key)."""
    return [MaskingRule(**rule) for rule in policies_of(workbench(request)).describe()]
