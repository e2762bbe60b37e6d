"""Comments, activity feeds and webhooks.

Every route is for people (admins, scientists, viewers; no token made for code): the service
finds the subject as the caller may see it before anything is read or written, so a
non-member never reads or writes a project's comments, and a viewer only those of the apps
shared with them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from atelier.contract.discussion import (
    ActivityOut,
    CommentEdit,
    CommentOut,
    DeliveryOut,
    NewComment,
    NewWebhook,
    WebhookOut,
)
from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal

router = APIRouter(tags=["discussion"])


@router.get("/comments", response_model=list[CommentOut])
def list_comments(
    request: Request,
    kind: str = Query(max_length=16),
    id: str = Query(max_length=255),
    principal: Principal = allow(*ROLES),
) -> list[dict[str, Any]]:
    return [c.as_dict() for c in workbench(request).discussion.thread(principal, kind, id)]


@router.post("/comments", status_code=201, response_model=CommentOut)
def post_comment(
    body: NewComment, request: Request, principal: Principal = allow(*ROLES)
) -> dict[str, Any]:
    comment = workbench(request).discussion.post(principal, body.kind, body.id, body.body)
    return comment.as_dict()


@router.get("/comments/{comment_id}", response_model=CommentOut)
def get_comment(
    comment_id: int, request: Request, principal: Principal = allow(*ROLES)
) -> dict[str, Any]:
    return workbench(request).discussion.get(principal, comment_id).as_dict()


@router.patch("/comments/{comment_id}", response_model=CommentOut)
def edit_comment(
    comment_id: int, body: CommentEdit, request: Request, principal: Principal = allow(*ROLES)
) -> dict[str, Any]:
    return workbench(request).discussion.edit(principal, comment_id, body.body).as_dict()


@router.delete("/comments/{comment_id}", status_code=204)
def delete_comment(
    comment_id: int, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    workbench(request).discussion.delete(principal, comment_id, client=client(request))
    return Response(status_code=204)


@router.get("/activity", response_model=list[ActivityOut])
def activity(
    request: Request,
    project: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    before_id: int | None = None,
    principal: Principal = allow(*ROLES),
) -> list[dict[str, Any]]:
    """The caller's feed, or one project's (its members and admins)."""
    feeds = workbench(request).activity
    if project:
        items = feeds.project_feed(project, principal, limit=limit, before_id=before_id)
    else:
        items = feeds.feed(principal, limit=limit, before_id=before_id)
    return [item.as_dict() for item in items]


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(request: Request, principal: Principal = allow(*ROLES)) -> list[dict[str, Any]]:
    return [w.as_dict() for w in workbench(request).webhooks.list(principal)]


@router.post("/webhooks", status_code=201, response_model=WebhookOut)
def create_webhook(
    body: NewWebhook, request: Request, principal: Principal = allow(*ROLES)
) -> dict[str, Any]:
    hook = workbench(request).webhooks.create(
        principal, body.url, body.events, client=client(request)
    )
    return hook.as_dict()


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(
    webhook_id: int, request: Request, principal: Principal = allow(*ROLES)
) -> Response:
    workbench(request).webhooks.delete(principal, webhook_id, client=client(request))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def deliveries(
    webhook_id: int,
    request: Request,
    limit: int = Query(50, ge=1, le=500),
    principal: Principal = allow(*ROLES),
) -> list[dict[str, Any]]:
    hooks = workbench(request).webhooks
    return [d.as_dict() for d in hooks.deliveries(principal, webhook_id, limit=limit)]
