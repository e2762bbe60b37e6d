"""Users: admins list, create and change accounts (rules and audit:
:class:`atelier.services.auth.accounts.Accounts`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from atelier.contract.auth import NewUser, UserChange, UserInfo
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.accounts import accounts_of

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def list_users(request: Request, principal: Principal = allow("admin")) -> list[UserInfo]:
    listed = accounts_of(workbench(request)).list_users(principal)
    return [UserInfo(**user.as_dict()) for user in listed]


@router.post("", status_code=201)
def create_user(body: NewUser, request: Request, principal: Principal = allow("admin")) -> UserInfo:
    user = accounts_of(workbench(request)).create_user(
        principal, body.name, body.role, body.password, client=client(request)
    )
    return UserInfo(**user.as_dict())


@router.patch("/{name}")
def change_user(
    name: str, body: UserChange, request: Request, principal: Principal = allow("admin")
) -> UserInfo:
    user = accounts_of(workbench(request)).change_user(
        principal,
        name,
        role=body.role,
        password=body.password,
        disabled=body.disabled,
        client=client(request),
    )
    return UserInfo(**user.as_dict())
