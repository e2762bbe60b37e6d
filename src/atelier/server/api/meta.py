"""Who am I, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.scopes import SCOPES

router = APIRouter(tags=["meta"])


@router.get("/me")
def me(principal: Principal = allow(*ROLES, scopes=SCOPES)) -> dict[str, Any]:
    return principal.as_dict()


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _: Principal = allow("admin", "scientist")) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
