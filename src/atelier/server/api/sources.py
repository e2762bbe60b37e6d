"""Sources: read-only databases and file folders attached to the warehouse.

Everyone who works with data may list them and their tables; only admins add and remove them.
Secret fields (passwords, keys) are accepted on creation and never returned or audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA

router = APIRouter(prefix="/sources", tags=["sources"])


class NewSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    type: str
    options: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    description: str = Field(default="", max_length=10_000)


@router.get("")
def list_sources(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    return [info.as_dict() for info in workbench(request).sources.list()]


@router.post("", status_code=201)
def add_source(
    body: NewSource, request: Request, principal: Principal = allow("admin")
) -> dict[str, Any]:
    info = workbench(request).sources.add(
        body.name,
        body.type,
        options=body.options,
        secrets=body.secrets,
        description=body.description,
        principal=principal,
        client=client(request),
    )
    return info.as_dict()


@router.get("/{name}")
def get_source(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> dict[str, Any]:
    return workbench(request).sources.get(name).as_dict()


@router.delete("/{name}", status_code=204)
def remove_source(name: str, request: Request, principal: Principal = allow("admin")) -> Response:
    workbench(request).sources.remove(name, principal=principal, client=client(request))
    return Response(status_code=204)


@router.get("/{name}/tables")
def source_tables(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    return [table.as_dict() for table in workbench(request).sources.tables(name)]
