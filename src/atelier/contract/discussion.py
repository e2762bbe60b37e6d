"""Discussion and activity on the wire: ``/api/v1/comments``, ``/activity``, ``/webhooks``.

The API declares these as its bodies and ``response_model``; the remote SDK client parses what
it receives with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class NewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: ``table``, ``experiment``, ``run``, ``model`` or ``app``.
    kind: str = Field(max_length=16)
    #: ``bank.customers``, an experiment or run id, ``churn`` or ``churn/2``, an app's name.
    id: str = Field(max_length=255)
    body: str = Field(max_length=10_000)


class CommentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(max_length=10_000)


class CommentOut(BaseModel):
    id: int
    subject_kind: str
    subject_id: str
    project: str | None
    author: str
    #: The text as written (plain text); ``html`` is it rendered, escaped, with links.
    body: str
    html: str
    mentions: list[str]
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None


class ActivityOut(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str | None
    subject_kind: str
    subject_id: str
    project: str | None
    summary: str
    #: The subject's page in the portal (a path).
    link: str
    detail: dict[str, Any]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048)
    #: Activity kinds to send (empty: all): comment, mention, table.version, model.register,
    #: model.alias, app.feedback.
    events: list[str] = Field(default_factory=list, max_length=20)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: datetime
    #: The signing secret: only in the answer that made the webhook.
    secret: str | None = None


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    #: ``pending``, ``delivered`` or ``failed``.
    status: str
    attempts: int
    response_status: int | None
    error: str | None
    created_at: datetime
    delivered_at: datetime | None
