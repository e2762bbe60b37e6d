"""API tokens: everyone but viewers manages their own; admins see and revoke all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter(prefix="/tokens", tags=["tokens"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    days: int | None = None


@router.get("")
def list_tokens(
    request: Request, all: bool = False, principal: Principal = allow("admin", "scientist")
) -> list[dict[str, Any]]:
    owner = None if all and principal.role == "admin" else principal.name
    return [token.as_dict() for token in workbench(request).tokens.list(owner)]


@router.post("", status_code=201)
def create_token(
    body: NewToken, request: Request, principal: Principal = allow("admin", "scientist")
) -> dict[str, Any]:
    wb = workbench(request)
    days = body.days or wb.settings.auth.token_days
    info, plaintext = wb.tokens.create(principal.name, body.name, days)
    wb.audit.record("token.create", actor=principal.name, target=info.key, client=client(request))
    return {**info.as_dict(), "token": plaintext}


@router.delete("/{key}")
def revoke_token(
    key: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> dict[str, Any]:
    wb = workbench(request)
    owner = None if principal.role == "admin" else principal.name
    info = wb.tokens.revoke(key, owner=owner)
    wb.audit.record("token.revoke", actor=principal.name, target=key, client=client(request))
    return info.as_dict()
