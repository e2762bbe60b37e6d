"""Who am I, signing out a token, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from atelier.contract.auth import Me, TokenInfo
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.accounts import accounts_of
from atelier.services.auth.scopes import SCOPES

router = APIRouter(tags=["meta"])


@router.get("/me", response_model_exclude_none=True)
def me(principal: Principal = allow(*ROLES, scopes=SCOPES)) -> Me:
    return Me(**principal.as_dict())


@router.delete("/me/tokens/{key}")
def sign_out(key: str, request: Request, principal: Principal = allow(*ROLES)) -> TokenInfo:
    """Revoke one of your own tokens (``atelier logout`` sends the key of the token it
    signs out); any role may. Tokens made for code are not signed out this way."""
    info = accounts_of(workbench(request)).sign_out(principal, key, client=client(request))
    return TokenInfo(**info.as_dict())


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _: Principal = allow("admin", "scientist")) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
