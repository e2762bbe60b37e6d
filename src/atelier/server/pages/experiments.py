"""Experiments: MLflow experiments and runs, leaderboards, runs compared side by side, and a
page per run (parameters, metrics over steps, artifacts, lineage, environment) from which its
owner registers the run's model.

The reading (runs, leaderboards, comparisons, one run) is the services
:mod:`atelier.services.tracking.experiments` and :mod:`atelier.services.tracking.runs`;
registering is the registry's (:meth:`~atelier.services.tracking.registry.ModelRegistry.
register_from_run`, which decides who may). These pages only render. MLflow's own UI stays one
click away at ``/mlflow/``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError, InvalidInput, NotFound
from atelier.server.api.deps import client, workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.tracking.experiments import READERS, Experiments, leaderboards
from atelier.services.tracking.runs import Runs, run_git, run_lineage

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


@router.get("/experiments/{experiment_id}/runs/{run_id}")
def run_page(
    request: Request, experiment_id: str, run_id: str, principal: Principal = allow(*ROLES)
) -> HTMLResponse:
    return _run_page(request, principal, experiment_id, run_id)


@router.post("/experiments/{experiment_id}/runs/{run_id}/register")
async def register_model(
    request: Request, experiment_id: str, run_id: str, principal: Principal = allow(*ROLES)
) -> Response:
    """Register the model the run logged as a new version of the model named in the form
    (new or existing); the registry checks who may before anything is written."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    model = str(form.get("model") or "").strip() or None
    registry = workbench(request).models
    try:
        if not name:
            raise InvalidInput("model name: give the registered model's name (new or existing)")
        # The run must be this experiment's (the page the form came from), as on GET.
        await run_in_threadpool(
            Runs(workbench(request).tracking_server).of_experiment,
            principal,
            experiment_id,
            run_id,
        )
        version = await run_in_threadpool(
            lambda: registry.register_from_run(
                run_id, name, by=principal, model=model, client=client(request)
            )
        )
    except AtelierError as error:
        return await run_in_threadpool(
            _run_page,
            request,
            principal,
            experiment_id,
            run_id,
            {"error": str(error), "name": name},
            error.status_code,
        )
    return RedirectResponse(
        f"/models/{quote(name, safe='')}?version={version['version']}", status_code=303
    )


def _run_page(
    request: Request,
    principal: Principal,
    experiment_id: str,
    run_id: str,
    register: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    wb = workbench(request)
    try:
        details = Runs(wb.tracking_server).get(principal, experiment_id, run_id)
    except NotFound as exc:
        return render(
            request, "experiments/list.html", experiments=[], error=str(exc), status_code=404
        )
    models = wb.models.logged_models(run_id)
    return render(
        request,
        "experiments/run.html",
        details=details,
        run=details.run,
        experiment=details.experiment,
        git=run_git(details.run["tags"]),
        lineage=run_lineage(details.run["tags"]),
        logged_models=models,
        may_register=bool(models) and wb.models.may_register_from(principal, run_id),
        model_names=_model_names(wb) if models else [],
        register=register or {},
        status_code=status_code,
    )


def _model_names(wb: Any) -> list[str]:
    """Registered models' names, for the form's suggestions."""
    try:
        found = wb.tracking_server.api(
            "GET", "registered-models/search", params={"max_results": 1000}
        )
    except AtelierError:
        return []
    return sorted(m["name"] for m in found.get("registered_models", []))
