"""Apps: publish a model as an app, use it, give feedback, share, pause, host scripts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.scopes import PREDICT

router = APIRouter(tags=["apps"])
BUILDERS = ("admin", "scientist")


class NewApp(BaseModel):
    name: str
    model: str = Field(description="NAME@ALIAS of a registered model")
    title: str = ""
    description: str = ""


class HostedApp(BaseModel):
    name: str
    script: str = Field(description="the app's Python source")
    project: str | None = None
    kind: str | None = Field(default=None, description="streamlit or dash (default: detected)")
    filename: str = "app.py"
    title: str = ""


class Share(BaseModel):
    users: list[str] = []
    everyone: bool | None = None
    remove: list[str] = []


class FeedbackIn(BaseModel):
    prediction_id: str
    verdict: str = Field(description="right or wrong")
    correct_value: str | None = None
    comment: str = ""


@router.get("/apps")
def list_apps(
    request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> list[dict[str, Any]]:
    """The apps the caller may use (viewers: those shared with them)."""
    return [app.as_dict() for app in workbench(request).apps.registry.list(principal)]


@router.post("/apps", status_code=201)
def create_app(
    body: NewApp, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Publish an app generated from a registered model's signature."""
    app = workbench(request).apps.create(
        body.name,
        body.model,
        principal,
        title=body.title,
        description=body.description,
        client=client(request),
    )
    return app.as_dict()


@router.post("/apps/deploy", status_code=201)
def deploy_app(
    body: HostedApp, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Publish or replace a hosted Streamlit/Dash app (started on its first request)."""
    app = workbench(request).apps.deploy(
        body.name,
        body.script,
        principal,
        project=body.project,
        kind=body.kind,
        filename=body.filename,
        title=body.title,
        client=client(request),
    )
    return app.as_dict()


@router.get("/apps/{name}")
def get_app(
    name: str, request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> dict[str, Any]:
    """An app; for generated apps also its form (fields, widgets, example)."""
    wb = workbench(request)
    app = wb.apps.registry.for_user(name, principal)
    found = app.as_dict()
    if app.model is not None:
        model, fields = wb.apps.model_of(app)
        found["form"] = [f.as_dict() for f in fields]
        found["model_version"] = model.version
    return found


@router.post("/apps/{name}/predict")
async def app_predict(
    name: str, request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> dict[str, Any]:
    """One prediction through the app (logged with the app's name); JSON record in."""
    from atelier.server.api.predict import json_body

    record = await json_body(request)
    wb = workbench(request)

    def run() -> dict[str, Any]:
        app = wb.apps.registry.for_user(name, principal)
        return wb.apps.predict(app, principal, record=record).single_dict()

    return await run_in_threadpool(run)


@router.post("/apps/{name}/feedback", status_code=201)
def app_feedback(
    name: str,
    body: FeedbackIn,
    request: Request,
    principal: Principal = allow(*ROLES, scopes=(PREDICT,)),
) -> dict[str, Any]:
    """Right or wrong, the correct value, a comment, on a prediction made through the app."""
    wb = workbench(request)
    app = wb.apps.registry.for_user(name, principal)
    entry = wb.apps.give_feedback(
        app,
        principal,
        body.prediction_id,
        body.verdict,
        correct_value=body.correct_value,
        comment=body.comment,
    )
    return entry.as_dict()


@router.get("/apps/{name}/feedback")
def feedback_summary(
    name: str, request: Request, limit: int = 100, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Agreement rate per model version, recent comments, latest entries."""
    wb = workbench(request)
    wb.apps.registry.for_user(name, principal)
    return wb.feedback.summary(name, limit=max(1, min(limit, 10_000))).as_dict()


@router.post("/apps/{name}/share")
def share_app(
    name: str, body: Share, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    app = workbench(request).apps.share(
        name,
        principal,
        users=body.users,
        everyone=body.everyone,
        remove=body.remove,
        client=client(request),
    )
    return app.as_dict()


@router.post("/apps/{name}/pause")
def pause_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.pause(name, principal, client=client(request)).as_dict()


@router.post("/apps/{name}/resume")
def resume_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.resume(name, principal, client=client(request)).as_dict()


@router.delete("/apps/{name}")
def delete_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.delete(name, principal, client=client(request)).as_dict()


@router.get("/apps/{name}/logs")
def app_logs(
    name: str, request: Request, lines: int = 200, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """The last lines a hosted app wrote, and how its process is doing (for the app's
    owner and admins: a script may print anything)."""
    wb = workbench(request)
    app = wb.apps.registry.get(name)
    text = wb.apps.logs(name, principal, max(1, min(lines, 10_000)))
    hosted = wb.apps.supervisor.get(app.name)
    return {
        "app": app.name,
        "state": hosted.state if hosted else ("paused" if app.status == "paused" else "idle"),
        "restarts": hosted.restarts if hosted else 0,
        "logs": text,
    }
