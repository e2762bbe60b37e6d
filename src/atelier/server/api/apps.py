"""Apps: publish a model as an app, use it, give feedback, share, pause, host scripts.

The apps service checks who may do what and records the audit entries; these routes only
admit the roles and token scopes that may call them and translate to and from the wire.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from atelier.contract.app_images import AppImageBuild, AppImageBuilt
from atelier.contract.apps import (
    BUNDLE_MEDIA_TYPE,
    App,
    AppDetail,
    AppLogs,
    FeedbackEntry,
    FeedbackIn,
    FeedbackSummary,
    HostedApp,
    MarkPersonal,
    NewApp,
    PersonalField,
    Prediction,
    Share,
)
from atelier.contract.images import BASE_PATTERN, IMAGE_PATTERN
from atelier.errors import InvalidInput
from atelier.server.api.deps import archive_response, client, workbench
from atelier.server.body_limit import spooled_archive
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.scopes import PREDICT

router = APIRouter(tags=["apps"])
BUILDERS = ("admin", "scientist")


@router.get("/apps", response_model=list[App])
def list_apps(
    request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> list[dict[str, Any]]:
    """The apps the caller may use (viewers: those shared with them)."""
    return [app.as_dict() for app in workbench(request).apps.registry.list(principal)]


@router.post("/apps", status_code=201, response_model=App)
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


@router.post("/apps/deploy", status_code=201, response_model=App)
def deploy_app(
    body: HostedApp, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Publish or replace a hosted Streamlit/Dash app from one script (started on its first
    request)."""
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


@router.post(
    "/apps/deploy/bundle",
    status_code=201,
    response_model=App,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {BUNDLE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def deploy_bundle(
    request: Request,
    name: str = Query(max_length=128),
    entry: str = Query("app.py", max_length=1024, description="the script to run"),
    project: str | None = Query(None, max_length=128),
    kind: str | None = Query(None, description="streamlit or dash (default: detected)"),
    title: str = Query("", max_length=255),
    principal: Principal = allow(*BUILDERS),
) -> dict[str, Any]:
    """Publish or replace a hosted app from a whole folder: the body is the folder as a
    gzip-compressed tar archive (files and folders only; no links, absolute paths or
    ``..``)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != BUNDLE_MEDIA_TYPE:
        raise InvalidInput(
            f"send the app's folder as a gzip-compressed tar archive ({BUNDLE_MEDIA_TYPE}), "
            f"not {media or 'no content type'}"
        )
    wb, address = workbench(request), client(request)
    # Who may deploy is checked (and a refusal audited) before the body is read.
    await run_in_threadpool(
        wb.apps.check_deploy, name, principal, project=project, entry=entry, client=address
    )
    body = await spooled_archive(request)

    def deploy() -> dict[str, Any]:
        app = wb.apps.deploy_folder(
            name,
            body,
            principal,
            entry=entry,
            project=project,
            kind=kind,
            title=title,
            client=address,
        )
        return app.as_dict()

    with body:
        return await run_in_threadpool(deploy)


@router.get("/apps/{name}", response_model=AppDetail)
def get_app(
    name: str, request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> dict[str, Any]:
    """An app; for generated apps also its form (fields, widgets, example)."""
    return workbench(request).apps.detail(name, principal)


@router.post("/apps/{name}/predict", response_model=Prediction)
async def app_predict(
    name: str, request: Request, principal: Principal = allow(*ROLES, scopes=(PREDICT,))
) -> dict[str, Any]:
    """One prediction through the app (logged with the app's name); JSON record in."""
    from atelier.server.api.predict import json_body

    record = await json_body(request)
    if not isinstance(record, dict):
        raise InvalidInput("send one JSON object: the record to predict, field by field")
    wb = workbench(request)

    def run() -> dict[str, Any]:
        app = wb.apps.registry.for_user(name, principal)
        return wb.apps.predict(app, principal, record=record).single_dict()

    return await run_in_threadpool(run)


@router.post("/apps/{name}/feedback", status_code=201, response_model=FeedbackEntry)
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


@router.get("/apps/{name}/feedback", response_model=FeedbackSummary)
def feedback_summary(
    name: str, request: Request, limit: int = 100, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Agreement rate per model version, recent comments, latest entries."""
    return workbench(request).apps.feedback_summary(name, principal, limit).as_dict()


@router.post("/apps/{name}/personal", response_model=list[PersonalField])
def mark_personal(
    name: str, body: MarkPersonal, request: Request, principal: Principal = allow(*BUILDERS)
) -> list[dict[str, Any]]:
    """Mark a field of a generated app as personal data (or not): its owner or an admin."""
    found = workbench(request).apps.mark_personal(
        name, body.field, body.kind, principal, client=client(request)
    )
    return [field.as_dict() for field in found.values()]


@router.post("/apps/{name}/share", response_model=App)
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


@router.post("/apps/{name}/pause", response_model=App)
def pause_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.pause(name, principal, client=client(request)).as_dict()


@router.post("/apps/{name}/resume", response_model=App)
def resume_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.resume(name, principal, client=client(request)).as_dict()


@router.delete("/apps/{name}", response_model=App)
def delete_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    return workbench(request).apps.delete(name, principal, client=client(request)).as_dict()


@router.get("/apps/{name}/logs", response_model=AppLogs)
def app_logs(
    name: str, request: Request, lines: int = 200, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """The last lines a hosted app wrote, and how its process is doing (for the app's
    owner and admins: a script may print anything)."""
    return workbench(request).apps.status(name, principal, lines)


# -- images of apps (``atelier apps build``) ----------------------------------------------------
# The app's owner or an admin (the app images service checks it and records the audit).


@router.post("/apps/{name}/image", response_model=AppImageBuilt)
def build_app_image(
    name: str, body: AppImageBuild, request: Request, principal: Principal = allow(*BUILDERS)
) -> dict[str, Any]:
    """Build the app's container image with the engine (minutes the first time)."""
    return workbench(request).app_images.build(
        name,
        by=principal,
        engine=body.engine,
        base=body.base,
        tag=body.tag,
        client=client(request),
    )


@router.get("/apps/{name}/image/context", response_class=FileResponse)
def app_image_context(
    name: str,
    request: Request,
    base: str | None = Query(None, max_length=255, pattern=BASE_PATTERN),
    tag: str | None = Query(None, pattern=IMAGE_PATTERN),
    principal: Principal = allow(*BUILDERS),
) -> FileResponse:
    """The app's build context as a gzipped tar (Containerfile, lock, wheels, the app's
    files or model and page), for a build elsewhere."""
    archive, made = workbench(request).app_images.context_archive(
        name, by=principal, base=base, tag=tag, client=client(request)
    )
    return archive_response(archive, f"{made['app']}-context.tar.gz")
