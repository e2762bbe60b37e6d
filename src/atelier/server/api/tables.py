"""Tables: the catalog (warehouse and source tables), annotations, versions and profiles.

Names in paths are ``schema.table`` or ``source.schema.table``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from atelier.contract.data import TableChange, TableDetail, TableEntry, TableProfile, TableVersion
from atelier.server.api.deps import client, on_server, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA, DATA_READ

router = APIRouter(prefix="/tables", tags=["tables"])


@router.get("", response_model=list[TableEntry])
def list_tables(
    request: Request,
    search: str | None = Query(None, max_length=200),
    _: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> list[dict[str, Any]]:
    return [entry.as_dict() for entry in workbench(request).catalog.list(search)]


@router.get("/{name}", response_model=TableDetail)
def describe_table(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> dict[str, Any]:
    # The sample leaves the server (raw personal data only with an export grant), unless a
    # notebook or job of the server's asks (see on_server).
    remote = not on_server(request, principal)
    return workbench(request).catalog.describe(name, principal=principal, remote=remote).as_dict()


@router.patch("/{name}", response_model=TableEntry)
def change_table(
    name: str,
    body: TableChange,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    entry = workbench(request).catalog.update(
        name,
        description=body.description,
        tags=body.tags,
        principal=principal,
        client=client(request),
    )
    return entry.as_dict()


@router.get("/{name}/versions", response_model=list[TableVersion])
def table_versions(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA_READ,))
) -> list[dict[str, Any]]:
    return [version.as_dict() for version in workbench(request).catalog.versions(name)]


@router.get("/{name}/profile", response_model=TableProfile)
def table_profile(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=0),
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> dict[str, Any]:
    profiles = workbench(request).profiles
    remote = not on_server(request, principal)
    return profiles.profile(name, version=version, principal=principal, remote=remote).as_dict()
