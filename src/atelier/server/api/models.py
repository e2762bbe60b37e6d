"""The model registry: register a run's model, aliases, model cards.

Scientists and admins only (viewers cannot see runs); the registry service checks who may
change a model or move an alias and records the audit entry. Loading a model's files goes through
MLflow's own API at ``/mlflow`` (``ws.models.load`` does it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import TRACKING

router = APIRouter(prefix="/models", tags=["models"])
ROLES = ("admin", "scientist")


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(max_length=64)
    name: str = Field(max_length=128)
    alias: str | None = Field(default=None, max_length=64)
    #: Which of the run's logged models, when it logged several.
    model: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=10_000)


class AliasChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


@router.get("")
def list_models(
    request: Request, _: Principal = allow(*ROLES, scopes=(TRACKING,))
) -> list[dict[str, Any]]:
    return workbench(request).models.list()


@router.post("", status_code=201)
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


@router.get("/{name}/versions")
def model_versions(
    name: str, request: Request, _: Principal = allow(*ROLES, scopes=(TRACKING,))
) -> list[dict[str, Any]]:
    return workbench(request).models.versions(name)


@router.get("/{name}/card")
def model_card(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    _: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """The card of version ``version``, of the version ``alias`` points at, or the latest."""
    reference = name
    if alias is not None:
        reference = f"{name}@{alias}"
    elif version is not None:
        reference = f"{name}/{version}"
    return workbench(request).models.card(reference)


@router.put("/{name}/aliases/{alias}")
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
