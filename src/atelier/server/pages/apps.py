"""Apps in the portal: the list, generated apps (form, prediction, feedback), the feedback
dashboard, sharing and pausing, hosted apps' logs, and the way into hosted apps.

A generated app lives at ``/apps/NAME``; its own actions under ``/apps/NAME/-/`` (a path
that Streamlit and Dash never use). Generated apps hold no user-authored markup (every value
is escaped), so they are portal pages. A hosted app's script is user-authored web content: it
is served by the apps origin, never here; ``/apps/NAME/…`` in the portal checks that the
visitor may use the app and hands them over with a one-time ticket.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError, NotFound
from atelier.server.api.deps import client, workbench
from atelier.server.gateway.handoff import ENTER, AppsOrigin, Tickets, landing
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.apps import AppInfo, can_manage
from atelier.services.auth import ROLES, Principal
from atelier.services.pii import PiiKind

log = logging.getLogger(__name__)
router = APIRouter()
BUILDERS = ("admin", "scientist")


def _form_value(form: Any, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


@router.get("/apps")
def apps_page(request: Request, principal: Principal = allow(*ROLES)) -> HTMLResponse:
    wb = workbench(request)
    apps = wb.apps.registry.list(principal)
    return render(
        request,
        "apps/list.html",
        apps=apps,
        builder=principal.role in BUILDERS,
        error=request.query_params.get("error"),
    )


@router.post("/apps")
async def create_app(request: Request, principal: Principal = allow(*BUILDERS)) -> Response:
    form = await request.form()
    wb = workbench(request)
    name, model = _form_value(form, "name").strip(), _form_value(form, "model").strip()
    try:
        app = await run_in_threadpool(
            lambda: wb.apps.create(
                name, model, principal, title=_form_value(form, "title"), client=client(request)
            )
        )
    except AtelierError as error:
        apps = wb.apps.registry.list(principal)
        return render(
            request,
            "apps/list.html",
            status_code=error.status_code,
            apps=apps,
            builder=True,
            error=str(error),
            values={"name": name, "model": model},
        )
    return RedirectResponse(app.url, status_code=303)


def _unavailable(
    request: Request, name: str, error: AtelierError, message: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "apps/unavailable.html",
        status_code=error.status_code,
        name=name,
        message=message or str(error),
    )


def _app_or_page(request: Request, name: str, principal: Principal) -> AppInfo | HTMLResponse:
    try:
        return workbench(request).apps.registry.for_user(name, principal)
    except AtelierError as error:
        return _unavailable(request, name, error)


@router.get("/apps/{name}")
def app_page(name: str, request: Request, principal: Principal = allow(*ROLES)) -> Response:
    found = _app_or_page(request, name, principal)
    if not isinstance(found, AppInfo):
        return found
    if found.hosted:
        return RedirectResponse(f"/apps/{name}/", status_code=307)
    wb = workbench(request)
    try:
        model, fields = wb.apps.model_of(found)
    except AtelierError as error:
        return _unavailable(
            request, name, error, f"the model of this app cannot be loaded: {error}"
        )
    return render(
        request,
        "apps/app.html",
        app=found,
        model=model,
        fields=fields,
        card=model.describe(),
        manage=can_manage(found.owner, principal),
        builder=principal.role in BUILDERS,
    )


@router.post("/apps/{name}/-/predict")
async def app_predict(
    name: str, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    form = await request.form()
    wb = workbench(request)

    def run() -> dict[str, Any]:
        app = wb.apps.registry.for_user(name, principal)
        batch = wb.apps.predict(app, principal, form=form)
        return {"app": app, "batch": batch, "prediction": batch.predictions[0]}

    try:
        result = await run_in_threadpool(run)
    except AtelierError as error:
        # 200 so that HTMX swaps the message in where the prediction would be.
        return render(request, "apps/_error.html", message=str(error))
    return render(request, "apps/_prediction.html", **result)


@router.post("/apps/{name}/-/feedback")
async def app_feedback(
    name: str, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    form = await request.form()
    wb = workbench(request)

    def run() -> Any:
        app = wb.apps.registry.for_user(name, principal)
        return wb.apps.give_feedback(
            app,
            principal,
            _form_value(form, "prediction_id"),
            _form_value(form, "verdict"),
            correct_value=_form_value(form, "correct_value"),
            comment=_form_value(form, "comment"),
        )

    try:
        entry = await run_in_threadpool(run)
    except AtelierError as error:
        return render(request, "apps/_error.html", message=str(error))
    return render(request, "apps/_thanks.html", entry=entry)


@router.get("/apps/{name}/-/feedback")
def feedback_page(name: str, request: Request, principal: Principal = allow(*BUILDERS)) -> Response:
    found = _app_or_page(request, name, principal)
    if not isinstance(found, AppInfo):
        return found
    wb = workbench(request)
    try:
        summary = wb.apps.feedback_summary(name, principal, 200)
    except AtelierError as error:
        return _unavailable(request, name, error)
    users = [u.name for u in wb.users.list() if not u.disabled]
    fields: list[Any] = []
    if found.model is not None:
        try:
            _, fields = wb.apps.model_of(found)
        except AtelierError as error:  # the page still shows feedback and sharing
            log.warning("app %s: its model's fields cannot be read: %s", name, error)
    return render(
        request,
        "apps/feedback.html",
        app=found,
        summary=summary,
        table=summary.as_dict()["table"],
        manage=can_manage(found.owner, principal),
        users=users,
        fields=fields,
        kinds=[kind.value for kind in PiiKind],
    )


@router.post("/apps/{name}/-/manage")
async def manage_app(
    name: str, request: Request, principal: Principal = allow(*BUILDERS)
) -> Response:
    """Sharing, personal fields, pause, resume and delete from the portal's forms."""
    form = await request.form()
    wb = workbench(request)
    action = _form_value(form, "action")
    where = client(request)
    try:
        if action == "share":
            users = [u.strip() for u in _form_value(form, "users").split(",") if u.strip()]
            everyone = _form_value(form, "everyone") == "on"
            wb.apps.share(name, principal, users=users, everyone=everyone, client=where)
        elif action == "unshare":
            wb.apps.share(name, principal, remove=[_form_value(form, "user")], client=where)
        elif action == "personal":
            field, kind = _form_value(form, "field"), _form_value(form, "kind")
            await run_in_threadpool(
                lambda: wb.apps.mark_personal(name, field, kind, principal, client=where)
            )
        elif action in ("pause", "resume", "delete"):
            change = getattr(wb.apps, action)
            await run_in_threadpool(lambda: change(name, principal, client=where))
            if action == "delete":
                return RedirectResponse("/apps", status_code=303)
        else:
            raise NotFound(f"no action {action!r}")
    except AtelierError as error:
        return _unavailable(request, name, error)
    return RedirectResponse(f"/apps/{name}/-/feedback", status_code=303)


@router.get("/apps/{name}/-/logs")
def logs_page(name: str, request: Request, principal: Principal = allow(*BUILDERS)) -> Response:
    found = _app_or_page(request, name, principal)
    if not isinstance(found, AppInfo):
        return found
    try:
        status = workbench(request).apps.status(name, principal, 500)
    except AtelierError as error:  # only the app's owner and admins read its logs
        return _unavailable(request, name, error)
    return render(
        request,
        "apps/logs.html",
        app=found,
        hosted=status if status["state"] not in ("idle", "paused") else None,
        logs=status["logs"],
        manage=can_manage(found.owner, principal),
    )


# -- hosted apps: the hand-off to the apps origin ------------------------------------------


@router.api_route("/apps/{name}/{path:path}", methods=["GET", "HEAD"])
def hosted_handoff(
    name: str, path: str, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    """A hosted app's page, opened from the portal: it is served by the apps origin (see
    :mod:`atelier.server.apps_origin`), which the visitor enters with a one-time ticket.
    The answer is a page that opens the apps origin at once (see ``apps/handoff.html``)."""
    found = _app_or_page(request, name, principal)
    if not isinstance(found, AppInfo):
        return found
    if not found.hosted:
        return _unavailable(request, name, NotFound(f"app {name!r} has no page {path!r}"))
    wb = workbench(request)
    origin = AppsOrigin.from_settings(wb.settings.server, wb.workspace.public_url)
    tickets = Tickets(wb.workspace.secret_key())
    target = landing(name, path, request.url.query)
    ticket = tickets.ticket(principal.user_id, principal.name, name, target)
    location = f"{origin.app_url(name)}/apps/{name}/{ENTER}?{urlencode({'ticket': ticket})}"
    page = render(request, "apps/handoff.html", name=name, location=location)
    page.headers["Cache-Control"] = "no-store"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page
