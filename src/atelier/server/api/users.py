"""Users: admins list, create and change accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter(prefix="/users", tags=["users"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str
    password: str


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    disabled: bool | None = None
    password: str | None = None


@router.get("")
def list_users(request: Request, _: Principal = allow("admin")) -> list[dict[str, Any]]:
    return [user.as_dict() for user in workbench(request).users.list()]


@router.post("", status_code=201)
def create_user(
    body: NewUser, request: Request, principal: Principal = allow("admin")
) -> dict[str, Any]:
    wb = workbench(request)
    user = wb.users.create(body.name, body.role, body.password)
    wb.audit.record(
        "user.create",
        actor=principal.name,
        target=user.name,
        client=client(request),
        detail={"role": user.role},
    )
    return user.as_dict()


@router.patch("/{name}")
def change_user(
    name: str, body: UserChange, request: Request, principal: Principal = allow("admin")
) -> dict[str, Any]:
    wb = workbench(request)
    changes: dict[str, Any] = {}
    if body.role is not None:
        wb.users.set_role(name, body.role)
        changes["role"] = body.role
    if body.password is not None:
        wb.users.set_password(name, body.password)
        changes["password"] = "changed"
    if body.disabled is not None:
        wb.users.set_disabled(name, body.disabled)
        changes["disabled"] = body.disabled
    wb.audit.record(
        "user.update", actor=principal.name, target=name, client=client(request), detail=changes
    )
    return wb.users.get(name).as_dict()
