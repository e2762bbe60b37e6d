"""Portal pages: the activity feed (``/activity``), a subject's discussion page
(``/discussion/{kind}/{id}``, where runs are discussed), and the comments block that the table,
experiment, model and app pages include.

The block is ``templates/discussion/comments.html``: a page includes it with ``subject_kind``
and ``subject_id`` set, and it reads its thread through :func:`discussion_for` (a template
global), so the page's own route needs no change. Posting and deleting are HTMX forms that
swap the block; a refusal is shown inside it. Comment bodies are rendered escaped, with only
mentions and references as links (:func:`atelier.services.discussion.render_body`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.pages.render import render, templates
from atelier.server.security import allow
from atelier.services.activity.subjects import link
from atelier.services.auth import ROLES, Principal

router = APIRouter()

FEED_ITEMS = 50
PROJECT_ITEMS = 20


def discussion_for(request: Request, kind: str, subject_id: Any) -> dict[str, Any]:
    """The comments block's data: the thread as the signed-in user may see it, or why not."""
    principal: Principal | None = getattr(request.state, "principal", None)
    found: dict[str, Any] = {"kind": kind, "id": str(subject_id), "comments": [], "error": None}
    if principal is None:
        found["error"] = "sign in to see the discussion"
        return found
    try:
        found["comments"] = workbench(request).discussion.thread(principal, kind, str(subject_id))
    except AtelierError as exc:
        found["error"] = str(exc)
    return found


def project_activity(request: Request, project: str) -> dict[str, Any]:
    """The project page's activity section: recent events, or why they are not shown."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return {"items": [], "error": "sign in to see the activity"}
    try:
        items = workbench(request).activity.project_feed(project, principal, limit=PROJECT_ITEMS)
    except AtelierError as exc:
        return {"items": [], "error": str(exc)}
    return {"items": items, "error": None}


def my_activity(request: Request, limit: int = 8) -> dict[str, Any]:
    """The signed-in user's latest activity, for the home page."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.scoped:
        return {"items": [], "error": "no feed"}
    try:
        return {"items": workbench(request).activity.feed(principal, limit=limit), "error": None}
    except AtelierError as exc:
        return {"items": [], "error": str(exc)}


templates.env.globals["discussion_for"] = discussion_for
templates.env.globals["my_activity"] = my_activity
templates.env.globals["project_activity"] = project_activity


def _block(request: Request, kind: str, subject_id: str, **extra: Any) -> HTMLResponse:
    return render(
        request,
        "discussion/comments.html",
        subject_kind=kind,
        subject_id=subject_id,
        **extra,
    )


@router.get("/activity")
def activity_page(
    request: Request, before: int | None = None, principal: Principal = allow(*ROLES)
) -> HTMLResponse:
    items = workbench(request).activity.feed(principal, limit=FEED_ITEMS, before_id=before)
    older = items[-1].id if len(items) == FEED_ITEMS else None
    return render(request, "activity/feed.html", items=items, older=older)


@router.get("/discussion/comments")
def comments_block(
    request: Request, kind: str, id: str, principal: Principal = allow(*ROLES)
) -> HTMLResponse:
    return _block(request, kind, id)


@router.post("/discussion/comments", response_model=None)
def post_comment(
    request: Request,
    kind: str = Form(...),
    id: str = Form(...),
    body: str = Form(""),
    principal: Principal = allow(*ROLES),
) -> Response:
    try:
        workbench(request).discussion.post(principal, kind, id, body)
    except AtelierError as exc:
        # HTMX swaps only successful answers: the refusal is shown in the block.
        status = 200 if request.headers.get("HX-Request") == "true" else exc.status_code
        return _block(request, kind, id, post_error=str(exc), draft=body, status_code=status)
    if request.headers.get("HX-Request") == "true":
        return _block(request, kind, id)
    return RedirectResponse(link(kind, id), status_code=303)


@router.post("/discussion/comments/{comment_id}/delete", response_model=None)
def delete_comment(
    comment_id: int, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    discussion = workbench(request).discussion
    comment = discussion.get(principal, comment_id)
    try:
        discussion.delete(principal, comment_id, client=client(request))
    except AtelierError as exc:
        status = 200 if request.headers.get("HX-Request") == "true" else exc.status_code
        return _block(
            request,
            comment.subject_kind,
            comment.subject_id,
            post_error=str(exc),
            status_code=status,
        )
    if request.headers.get("HX-Request") == "true":
        return _block(request, comment.subject_kind, comment.subject_id)
    return RedirectResponse(link(comment.subject_kind, comment.subject_id), status_code=303)


@router.get("/discussion/{kind}/{subject_id:path}", response_model=None)
def subject_page(
    kind: str, subject_id: str, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    """A subject's discussion on a page of its own; a run's is on the run's page (references
    to runs link here, where the run's experiment is found)."""
    subject = workbench(request).subjects.resolve(principal, kind, subject_id)
    if subject.kind == "run":
        experiment = workbench(request).models.owners.run_experiment(subject.id)
        return RedirectResponse(
            f"/experiments/{quote(experiment)}/runs/{quote(subject.id)}#discussion",
            status_code=303,
        )
    return render(request, "discussion/subject.html", subject=subject)
