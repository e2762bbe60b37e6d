"""Comments and activity from Python: ``ws.comment(...)``, ``ws.comments(...)``,
``ws.activity()``, and webhooks (``ws.discussion.webhooks()``...).

::

    ws.comment("run", run_id, "@ada this beats model:churn/2 on recall")
    ws.comments("table", "bank.customers")       # the thread, oldest first
    ws.activity()                                # my feed, newest first
    ws.activity(project="churn")                 # one project's (members and admins)

Comments are plain text: ``body`` as written, ``html`` rendered escaped with mentions and
references (``run:ID``, ``table:SCHEMA.TABLE@VERSION``, ``model:NAME/VERSION``) as links.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench

Rows = list[dict[str, Any]]


class Discussion(ABC):
    @abstractmethod
    def post(self, kind: str, subject_id: str, body: str) -> dict[str, Any]: ...

    @abstractmethod
    def thread(self, kind: str, subject_id: str) -> Rows: ...

    @abstractmethod
    def edit(self, comment_id: int, body: str) -> dict[str, Any]: ...

    @abstractmethod
    def delete(self, comment_id: int) -> None: ...

    @abstractmethod
    def activity(
        self, project: str | None = None, *, limit: int = 50, before_id: int | None = None
    ) -> Rows: ...

    @abstractmethod
    def webhooks(self) -> Rows: ...

    @abstractmethod
    def add_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        """Make a webhook; the answer holds its signing ``secret``, shown only this once."""

    @abstractmethod
    def remove_webhook(self, webhook_id: int) -> None: ...

    @abstractmethod
    def deliveries(self, webhook_id: int) -> Rows: ...


def for_client(client: Any) -> Discussion:
    """The discussion of a client: an embedded one works on its workbench, a remote one
    (a :class:`Transport`) speaks to the API."""
    workbench = getattr(client, "workbench", None)
    if workbench is not None:
        return EmbeddedDiscussion(workbench, client.principal, client.client_label)
    transport: Transport = client
    return RemoteDiscussion(transport)


class EmbeddedDiscussion(Discussion):
    def __init__(self, workbench: Workbench, principal: Principal, client: str) -> None:
        self.workbench = workbench
        self.principal = principal
        self.client = client

    def post(self, kind: str, subject_id: str, body: str) -> dict[str, Any]:
        comment = self.workbench.discussion.post(self.principal, kind, subject_id, body)
        return comment.as_dict()

    def thread(self, kind: str, subject_id: str) -> Rows:
        return [
            c.as_dict() for c in self.workbench.discussion.thread(self.principal, kind, subject_id)
        ]

    def edit(self, comment_id: int, body: str) -> dict[str, Any]:
        return self.workbench.discussion.edit(self.principal, comment_id, body).as_dict()

    def delete(self, comment_id: int) -> None:
        self.workbench.discussion.delete(self.principal, comment_id, client=self.client)

    def activity(
        self, project: str | None = None, *, limit: int = 50, before_id: int | None = None
    ) -> Rows:
        feeds = self.workbench.activity
        if project:
            items = feeds.project_feed(project, self.principal, limit=limit, before_id=before_id)
        else:
            items = feeds.feed(self.principal, limit=limit, before_id=before_id)
        return [item.as_dict() for item in items]

    def webhooks(self) -> Rows:
        return [w.as_dict() for w in self.workbench.webhooks.list(self.principal)]

    def add_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        hook = self.workbench.webhooks.create(self.principal, url, events or (), client=self.client)
        return hook.as_dict()

    def remove_webhook(self, webhook_id: int) -> None:
        self.workbench.webhooks.delete(self.principal, webhook_id, client=self.client)

    def deliveries(self, webhook_id: int) -> Rows:
        return [d.as_dict() for d in self.workbench.webhooks.deliveries(self.principal, webhook_id)]


class RemoteDiscussion(Discussion):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def post(self, kind: str, subject_id: str, body: str) -> dict[str, Any]:
        from atelier.contract.discussion import CommentOut

        sent = {"kind": kind, "id": subject_id, "body": body}
        answer = self.client.request("POST", "/comments", json=sent).json()
        return CommentOut(**answer).model_dump(mode="json")

    def thread(self, kind: str, subject_id: str) -> Rows:
        from atelier.contract.discussion import CommentOut

        params = {"kind": kind, "id": subject_id}
        listed = self.client.request("GET", "/comments", params=params).json()
        return [CommentOut(**c).model_dump(mode="json") for c in listed]

    def edit(self, comment_id: int, body: str) -> dict[str, Any]:
        from atelier.contract.discussion import CommentOut

        path = f"/comments/{int(comment_id)}"
        answer = self.client.request("PATCH", path, json={"body": body}).json()
        return CommentOut(**answer).model_dump(mode="json")

    def delete(self, comment_id: int) -> None:
        self.client.request("DELETE", f"/comments/{int(comment_id)}")

    def activity(
        self, project: str | None = None, *, limit: int = 50, before_id: int | None = None
    ) -> Rows:
        from atelier.contract.discussion import ActivityOut

        params: dict[str, Any] = {"limit": limit}
        if project:
            params["project"] = project
        if before_id is not None:
            params["before_id"] = before_id
        listed = self.client.request("GET", "/activity", params=params).json()
        return [ActivityOut(**item).model_dump(mode="json") for item in listed]

    def webhooks(self) -> Rows:
        from atelier.contract.discussion import WebhookOut

        listed = self.client.request("GET", "/webhooks").json()
        return [WebhookOut(**w).model_dump(mode="json", exclude_none=True) for w in listed]

    def add_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        from atelier.contract.discussion import WebhookOut

        sent = {"url": url, "events": list(events or [])}
        answer = self.client.request("POST", "/webhooks", json=sent).json()
        return WebhookOut(**answer).model_dump(mode="json")

    def remove_webhook(self, webhook_id: int) -> None:
        self.client.request("DELETE", f"/webhooks/{int(webhook_id)}")

    def deliveries(self, webhook_id: int) -> Rows:
        from atelier.contract.discussion import DeliveryOut

        listed = self.client.request("GET", f"/webhooks/{int(webhook_id)}/deliveries").json()
        return [DeliveryOut(**d).model_dump(mode="json") for d in listed]
