"""REST API: the feature store (definitions, views, training sets, online lookups).

Training sets travel as Arrow IPC streams (``application/vnd.apache.arrow.stream``): the entity
frame in the request body, the training set in the response. Online lookups answer Arrow too
when the client accepts it (the SDK does), JSON otherwise.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from atelier.contract import ARROW_STREAM as ARROW
from atelier.contract.features import (
    ApplyPlan,
    ApplyRequest,
    Materialized,
    MaterializeRequest,
    OnlineRequest,
    TrainingSetInfo,
    TrainingSetRequest,
)
from atelier.errors import InvalidInput
from atelier.sdk.arrow import from_ipc, to_ipc
from atelier.server.api.deps import client, on_server, workbench
from atelier.server.api.json_body import parse_model
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import FEATURES

router = APIRouter(prefix="/features", tags=["features"])
MAX_ENTITY_BYTES = 2 * 2**30


@router.get("/views")
def list_views(
    request: Request,
    project: str | None = None,
    search: str | None = None,
    _: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> list[dict[str, Any]]:
    views = workbench(request).features.views(project=project, search=search)
    return [v.as_dict() for v in views]


@router.get("/views/{name}")
def get_view(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(FEATURES,))
) -> dict[str, Any]:
    return workbench(request).features.view(name).as_dict()


@router.get("/views/{name}/versions")
def view_versions(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(FEATURES,))
) -> list[dict[str, Any]]:
    return workbench(request).features.versions(name)


@router.post("/views/{name}/statistics")
def refresh_statistics(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(FEATURES,))
) -> dict[str, Any]:
    return workbench(request).features.statistics(name)


@router.get("/entities")
def list_entities(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(FEATURES,))
) -> list[dict[str, Any]]:
    return workbench(request).features.entities()


@router.get("/services")
def list_services(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(FEATURES,))
) -> list[dict[str, Any]]:
    return workbench(request).features.services()


@router.get("/training-sets", response_model=list[TrainingSetInfo])
def list_training_sets(
    request: Request,
    name: str | None = None,
    _: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> list[dict[str, Any]]:
    return workbench(request).features.training_sets(name)


@router.post("/apply", response_model=ApplyPlan)
def apply_definitions(
    body: ApplyRequest,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> dict[str, Any]:
    """The diff (``dry_run``, the default) or the applied change; 409 when it would break a
    dependant. Python features are refused here: they come from a project's features.py."""
    from atelier.services.features.loader import from_dict

    wb = workbench(request)
    definitions = from_dict(body.definitions)
    plan = wb.features.apply(
        definitions,
        project=body.project,
        dry_run=body.dry_run,
        principal=principal,
        client=client(request),
    )
    return plan.as_dict()


@router.post("/training-set", response_model=None)
async def training_set(
    request: Request,
    features: list[str] | None = Query(None),
    timestamp: str | None = None,
    save_as: str | None = None,
    full_names: bool = False,
    project: str | None = None,
    principal: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> Response | dict[str, Any]:
    """Entities as an Arrow IPC stream body (options in the query string) or JSON naming a
    table. Answers the training set as Arrow IPC, or, with ``save_as`` and a client that does
    not accept Arrow, JSON about the saved table."""
    from starlette.concurrency import run_in_threadpool

    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if len(body) > MAX_ENTITY_BYTES:
        raise InvalidInput("the entity frame is over 2 GiB: save it as a warehouse table first")
    if content_type.startswith("application/json"):
        spec = parse_model(body, TrainingSetRequest, "the training-set request")
        entities: Any = spec.entities
        features_ = spec.features
        timestamp, save_as = spec.timestamp, spec.save_as
        full_names, project = spec.full_names, spec.project
    elif content_type.startswith(ARROW):
        entities = from_ipc(body, "the entity frame")
        features_ = features or []
    else:
        raise InvalidInput(f"send the entity frame as {ARROW}, or JSON naming a table")
    wb = workbench(request)
    result = await run_in_threadpool(
        wb.features.training_set,
        entities,
        features_,
        timestamp=timestamp,
        save_as=save_as,
        full_names=full_names,
        project=project,
        principal=principal,
        client=client(request),
        remote=not on_server(request, principal),
    )
    if save_as is not None and not _accepts_arrow(request):
        return {"name": result.name, "rows": result.rows, **result.lineage()}
    return Response(
        to_ipc(result.table),
        media_type=ARROW,
        headers={"X-Atelier-Feature-Views": json.dumps(result.view_versions)},
    )


@router.post("/online", response_model=None)
def online(
    body: OnlineRequest,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> Response | dict[str, Any]:
    """The latest values per key row: Arrow IPC, or ``{"rows": [{key..., feature...}, ...]}``.
    Features computed from personal data are masked as for the caller's SQL."""
    table = workbench(request).features.online(
        body.keys,
        body.features,
        project=body.project,
        principal=principal,
        remote=not on_server(request, principal),
        client=client(request),
    )
    if _accepts_arrow(request):
        return Response(to_ipc(table), media_type=ARROW)
    return {"rows": [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]}


@router.post("/materialize", response_model=list[Materialized])
def materialize(
    body: MaterializeRequest,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(FEATURES,)),
) -> list[dict[str, Any]]:
    return workbench(request).features.materialize(
        body.views, incremental=body.incremental, principal=principal, client=client(request)
    )


def _accepts_arrow(request: Request) -> bool:
    return ARROW in request.headers.get("accept", "")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):  # pandas Timestamp (nanoseconds)
        return value.isoformat()
    return value
