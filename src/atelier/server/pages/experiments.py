"""Experiments: MLflow experiments and runs, leaderboards, and runs compared side by side.

The reading (runs, leaderboards, comparisons) is the service
:mod:`atelier.services.tracking.experiments`; these pages only render it. MLflow's own UI stays
one click away at ``/mlflow/``.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from atelier.errors import InvalidInput, NotFound
from atelier.server.api.deps import workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.tracking.experiments import READERS, Experiments, leaderboards

router = APIRouter()

ROLES = READERS


def _experiments(request: Request) -> Experiments:
    return Experiments(workbench(request).tracking_server)


@router.get("/experiments")
def experiments(request: Request, principal: Principal = allow(*ROLES)) -> HTMLResponse:
    rows = _experiments(request).all(principal)
    return render(request, "experiments/list.html", experiments=rows)


@router.get("/experiments/compare")
def compare(request: Request, principal: Principal = allow(*ROLES)) -> HTMLResponse:
    try:
        comparison = _experiments(request).compare(principal, request.query_params.getlist("runs"))
    except InvalidInput as exc:
        return render(
            request, "experiments/list.html", experiments=[], error=str(exc), status_code=400
        )
    return render(request, "experiments/compare.html", **asdict(comparison))


@router.get("/experiments/{experiment_id}")
def experiment(
    request: Request, experiment_id: str, principal: Principal = allow(*ROLES)
) -> HTMLResponse:
    try:
        found, runs = _experiments(request).runs(principal, experiment_id)
    except NotFound as exc:
        return render(
            request, "experiments/list.html", experiments=[], error=str(exc), status_code=404
        )
    metric_keys = sorted({k for r in runs for k in r["metrics"]})
    return render(
        request,
        "experiments/runs.html",
        experiment=found,
        runs=runs,
        names={r["id"]: r["name"] for r in runs},
        metric_keys=metric_keys[:8],
        boards=leaderboards(runs),
    )
