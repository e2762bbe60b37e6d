"""API tokens: everyone but viewers manages their own; admins see and revoke all, and make
tokens for others (rules and audit: :class:`atelier.services.auth.accounts.Accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from atelier.contract.auth import CreatedToken, NewToken, TokenInfo
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.accounts import accounts_of

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("")
def list_tokens(
    request: Request,
    all: bool = False,
    user: str | None = None,
    principal: Principal = allow("admin", "scientist"),
) -> list[TokenInfo]:
    """Your tokens; an admin's ``all=true``: everyone's, ``user=NAME``: that user's."""
    listed = accounts_of(workbench(request)).list_tokens(principal, user=user, everyone=all)
    return [TokenInfo(**token.as_dict()) for token in listed]


@router.post("", status_code=201)
def create_token(
    body: NewToken, request: Request, principal: Principal = allow("admin", "scientist")
) -> CreatedToken:
    info, plaintext = accounts_of(workbench(request)).create_token(
        principal, body.name, days=body.days, user=body.user, client=client(request)
    )
    return CreatedToken(**info.as_dict(), token=plaintext)


@router.delete("/{key}")
def revoke_token(
    key: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> TokenInfo:
    info = accounts_of(workbench(request)).revoke_token(principal, key, client=client(request))
    return TokenInfo(**info.as_dict())
