"""The model registry: register a run's model, aliases, model cards.

Scientists and admins only (viewers cannot see runs); the registry service checks who may
change a model or move an alias and records the audit entry. Loading a model's files goes through
MLflow's own API at ``/mlflow`` (``ws.models.load`` does it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from atelier.contract.images import (
    BASE_PATTERN,
    IMAGE_PATTERN,
    BaseImage,
    BaseImageMade,
    ImageBuild,
    ImageBuilt,
    ImagePush,
    ImagePushed,
    ImageStatus,
    ImageTest,
    ImageTested,
)
from atelier.contract.models import (
    AliasChange,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    Registration,
)
from atelier.server.api.deps import archive_response, client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import TRACKING
from atelier.services.tracking.references import parse_reference

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
    wb = workbench(request)
    card = wb.models.card(reference, by=principal)
    # Where the version runs when served, and the state of its own environment if it has one.
    try:
        card["serving"] = wb.serving.runtime(parse_reference(f"{name}/{card['version']}"))
    except Exception as error:  # the card itself still answers
        card["serving"] = {"state": "failed", "message": str(error)}
    return card


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


# -- images of model versions (``atelier models build | test-container | push``) ---------------
# The model's owner or an admin (the containers service checks it and records the audit).


def _reference(name: str, alias: str | None, version: int | None) -> str:
    if alias is not None:
        return f"{name}@{alias}"
    return f"{name}/{version}" if version is not None else name


@router.post("/base-image", response_model=BaseImageMade)
def make_base_image(
    body: BaseImage, request: Request, principal: Principal = allow("admin", scopes=(TRACKING,))
) -> dict[str, Any]:
    """Make the default base image from Debian packages (mmdebstrap), when it is missing."""
    return workbench(request).containers.make_base_image(
        by=principal, engine=body.engine, rebuild=body.rebuild, client=client(request)
    )


@router.get("/{name}/image", response_model=ImageStatus)
def image_status(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """The image built, its last container test and push, of one version."""
    wb = workbench(request)
    wb.models.owners.check_writer(principal, "see registered models")
    return wb.containers.status(_reference(name, alias, version))


@router.post("/{name}/image", response_model=ImageBuilt)
def build_image(
    name: str,
    body: ImageBuild,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """Build the version's image with the engine (minutes the first time)."""
    return workbench(request).containers.build(
        _reference(name, alias, version),
        by=principal,
        engine=body.engine,
        base=body.base,
        tag=body.tag,
        client=client(request),
    )


@router.get("/{name}/image/context", response_class=FileResponse)
def image_context(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    base: str | None = Query(None, max_length=255, pattern=BASE_PATTERN),
    tag: str | None = Query(None, pattern=IMAGE_PATTERN),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> FileResponse:
    """The version's build context as a gzipped tar (Containerfile, lock, wheels, model,
    runtime), for a build elsewhere."""
    archive, made = workbench(request).containers.context_archive(
        _reference(name, alias, version), by=principal, base=base, tag=tag, client=client(request)
    )
    return archive_response(archive, f"{made['model']}-{made['version']}-context.tar.gz")


@router.post("/{name}/image/test", response_model=ImageTested)
def test_image(
    name: str,
    body: ImageTest,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """Start the image with no network, compare its answers with Atelier's, record it."""
    return workbench(request).containers.test(
        _reference(name, alias, version),
        by=principal,
        image=body.image,
        engine=body.engine,
        sample=body.sample,
        client=client(request),
    )


@router.post("/{name}/image/push", response_model=ImagePushed)
def push_image(
    name: str,
    body: ImagePush,
    request: Request,
    version: int | None = Query(None, ge=1),
    alias: str | None = Query(None, max_length=64),
    principal: Principal = allow(*ROLES, scopes=(TRACKING,)),
) -> dict[str, Any]:
    """Push the version's tested image to a registry (an untested one only with force)."""
    return workbench(request).containers.push(
        _reference(name, alias, version),
        body.registry,
        by=principal,
        force=body.force,
        tls_verify=body.tls_verify,
        engine=body.engine,
        client=client(request),
    )
