"""Personal data: the PII tags of a table's columns.

``GET /tables/{name}/pii`` reads them; owners of the table and admins confirm or change a tag
(``PUT .../pii/{column}``), remove one (``DELETE``), classify the table again
(``POST .../pii/classify``) or mark the whole table as personal data (``PATCH .../pii``).
The service checks ownership before any side effect and writes the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from atelier.contract.pii import PiiTableChange, PiiTagChange, TablePii
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA, DATA_READ

router = APIRouter(prefix="/tables", tags=["personal data"])


@router.get("/{name}/pii", response_model=TablePii)
def table_pii(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ, DATA)),
) -> dict[str, Any]:
    return workbench(request).pii_tags.get(principal, name).as_dict()


@router.patch("/{name}/pii", response_model=TablePii)
def mark_table(
    name: str,
    body: PiiTableChange,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    tags = workbench(request).pii_tags
    return tags.mark(principal, name, personal=body.personal, client=client(request)).as_dict()


@router.post("/{name}/pii/classify", response_model=TablePii)
def classify_table(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    return workbench(request).pii_tags.classify(principal, name, client=client(request)).as_dict()


@router.put("/{name}/pii/{column}", response_model=TablePii)
def confirm_tag(
    name: str,
    column: str,
    body: PiiTagChange,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    tags = workbench(request).pii_tags
    return tags.confirm(principal, name, column, body.kind, client=client(request)).as_dict()


@router.delete("/{name}/pii/{column}", response_model=TablePii)
def remove_tag(
    name: str,
    column: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    return (
        workbench(request)
        .pii_tags.remove(principal, name, column, client=client(request))
        .as_dict()
    )
