"""Sources: read-only databases and file folders attached to the warehouse.

Everyone who works with data may list them and their tables; only admins add and remove them.
Secret fields (passwords, keys) are accepted on creation and never returned or audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from atelier.contract.sources import NewSource, SourceInfo, SourceTable
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA

router = APIRouter(prefix="/sources", tags=["sources"])


@router.get("", response_model=list[SourceInfo])
def list_sources(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    return [info.as_dict() for info in workbench(request).sources.list()]


@router.post("", status_code=201, response_model=SourceInfo)
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


@router.get("/{name}", response_model=SourceInfo)
def get_source(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> dict[str, Any]:
    return workbench(request).sources.get(name).as_dict()


@router.delete("/{name}", status_code=204)
def remove_source(name: str, request: Request, principal: Principal = allow("admin")) -> Response:
    workbench(request).sources.remove(name, principal=principal, client=client(request))
    return Response(status_code=204)


@router.get("/{name}/tables", response_model=list[SourceTable])
def source_tables(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    return [table.as_dict() for table in workbench(request).sources.tables(name)]
