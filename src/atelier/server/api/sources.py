"""Sources: read-only databases and file folders attached to the warehouse.

Everyone who works with data may list them and their tables; only admins add and remove them.
Secret fields (passwords, keys) are accepted on creation and never returned or audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA
from atelier.services.catalog import SourceInfo

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


def add_audited(
    request: Request,
    principal: Principal,
    name: str,
    type: str,
    *,
    options: dict[str, Any],
    secrets: dict[str, Any],
    description: str,
) -> SourceInfo:
    """Add a source and record the attempt in the audit log, without its secrets (the API and
    the portal's form both add sources through here)."""
    wb = workbench(request)
    try:
        info = wb.sources.add(
            name,
            type,
            options=options,
            secrets=secrets,
            description=description,
            by=principal.name,
        )
    except AtelierError:
        # The error text is already redacted; the audit entry records only the attempt.
        wb.audit.record(
            "source.add",
            actor=principal.name,
            target=name or None,
            success=False,
            client=client(request),
            detail={"type": type},
        )
        raise
    wb.audit.record(
        "source.add",
        actor=principal.name,
        target=info.name,
        client=client(request),
        detail={"type": info.type, "options": info.options},
    )
    return info


@router.post("", status_code=201)
def add_source(
    body: NewSource, request: Request, principal: Principal = allow("admin")
) -> dict[str, Any]:
    info = add_audited(
        request,
        principal,
        body.name,
        body.type,
        options=body.options,
        secrets=body.secrets,
        description=body.description,
    )
    return info.as_dict()


@router.get("/{name}")
def get_source(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> dict[str, Any]:
    return workbench(request).sources.get(name).as_dict()


@router.delete("/{name}", status_code=204)
def remove_source(name: str, request: Request, principal: Principal = allow("admin")) -> Response:
    wb = workbench(request)
    wb.sources.remove(name)
    wb.audit.record("source.remove", actor=principal.name, target=name, client=client(request))
    return Response(status_code=204)


@router.get("/{name}/tables")
def source_tables(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    return [table.as_dict() for table in workbench(request).sources.tables(name)]
