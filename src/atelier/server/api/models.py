"""The model registry: register a run's model, aliases, model cards.

Scientists and admins only (viewers cannot see runs); the registry service checks who may
change a model or move an alias and records the audit entry. Loading a model's files goes through
MLflow's own API at ``/mlflow`` (``ws.models.load`` does it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from atelier.contract.models import (
    AliasChange,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    Registration,
)
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import TRACKING

router = APIRouter(prefix="/models", tags=["models"])
ROLES = ("admin", "scientist")


@router.get("", response_model=list[RegisteredModel])
def list_models(
    request: Request, principal: Principal = allow(*ROLES, scopes=(TRACKING,))
) -> list[dict[str, Any]]:
    return workbench(request).models.list(by=principal)


@router.post("", status_code=201, response_model=ModelVersion)
def register_model(
    body: Registration, request: Request, principal: Principal = allow(*ROLES, scopes=(TRACKING,))
) -> dict[str, Any]:
    return workbench(request).models.register(
        body.run_id,
        body.name,
        by=principal,
        alias=body.alias,
        model=body.model,
        description=body.description,
        client=client(request),
    )


@router.get("/{name}/versions", response_model=list[ModelVersion])
def model_versions(
    name: str, request: Request, principal: Principal = allow(*ROLES, scopes=(TRACKING,))
) -> list[dict[str, Any]]:
    return workbench(request).models.versions(name, by=principal)


@router.get("/{name}/card", response_model=ModelCard)
def model_card(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """The card of version ``version``, of the version ``alias`` points at, or the latest."""
    reference = name
    if alias is not None:
        reference = f"{name}@{alias}"
    elif version is not None:
        reference = f"{name}/{version}"
    return workbench(request).models.card(reference, by=principal)


@router.put("/{name}/aliases/{alias}", response_model=ModelVersion)
def set_alias(
    name: str,
    alias: str,
    body: AliasChange,
    request: Request,
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    return workbench(request).models.set_alias(
        name, alias, body.version, by=principal, client=client(request)
    )


@router.delete("/{name}/aliases/{alias}", status_code=204)
def delete_alias(
    name: str,
    alias: str,
    request: Request,
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> Response:
    workbench(request).models.delete_alias(name, alias, by=principal, client=client(request))
    return Response(status_code=204)
