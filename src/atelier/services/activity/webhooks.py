"""Webhooks: each user's subscriptions, and the deliveries of their activity.

A user registers a URL (and, optionally, the kinds of events they want); every new event of
their feed (:mod:`.feed`) that another user caused becomes a *delivery*, stored before anything
is sent. A background thread of the server sends the pending deliveries — the request that
caused the event never waits for a receiver — and retries failures with a doubling wait, up to
``notifications.webhook_attempts`` tries.

A delivery is a ``POST`` of JSON (``{"id", "event", "at", "actor", "subject", "summary",
"link", "detail"}``) with the headers ``X-Atelier-Event``, ``X-Atelier-Delivery``,
``X-Atelier-Timestamp`` and ``X-Atelier-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body>`` with the webhook's secret (shown once, when the webhook is made). Where
a webhook may send is :mod:`.addresses`.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from atelier.backends.metadata import Database, User
from atelier.backends.metadata.models import ActivityEvent, Webhook, WebhookDelivery
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.activity.addresses import check_url, resolve
from atelier.services.activity.feed import EVENT_KINDS, Activity
from atelier.services.activity.subjects import people_only

if TYPE_CHECKING:
    from atelier.config.sealing import Sealer
    from atelier.config.settings import NotificationSettings
    from atelier.services.auth import AuditLog, Principal

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Atelier-Signature"
MAX_PER_USER = 20
#: Seconds between looks for due deliveries (new events wake the sender at once).
POLL_SECONDS = 2.0
#: How long a claimed delivery is someone's before another sender may take it.
CLAIM_SECONDS = 120


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    url: str
    events: list[str]
    created_at: datetime
    #: Only when the webhook is made: the signing secret, shown once.
    secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {**self.__dict__, "created_at": self.created_at.isoformat()}
        if self.secret is None:
            found.pop("secret")
        return found


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    event_id: int
    status: str
    attempts: int
    response_status: int | None
    error: str | None
    created_at: datetime
    delivered_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


class Webhooks:
    def __init__(
        self,
        db: Database,
        activity: Callable[[], Activity],
        sealer: Sealer,
        settings: NotificationSettings,
        audit: AuditLog,
    ) -> None:
        self.db = db
        self._activity = activity
        self.sealer = sealer
        self.settings = settings
        self.audit = audit
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- subscriptions ------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        url: str,
        events: Iterable[str] = (),
        *,
        client: str | None = None,
    ) -> WebhookInfo:
        people_only(principal, "manage webhooks")
        kinds = sorted(set(events))
        unknown = [k for k in kinds if k not in EVENT_KINDS]
        if unknown:
            raise InvalidInput(
                f"unknown event {', '.join(unknown)} (events are {', '.join(EVENT_KINDS)})"
            )
        scheme, host, port = check_url(url)
        resolve(host, port, self.settings.webhook_networks)
        # A webhook URL is often a secret itself (chat services put their token in the path):
        # it is kept sealed, and shown and audited as its host only.
        shown = f"{scheme}://{host}" + ("" if port in (80, 443) else f":{port}") + "/…"
        secret = "whsec_" + secrets.token_urlsafe(32)
        with self.db.session() as session:
            count = len(
                session.scalars(
                    select(Webhook.id).where(Webhook.user_id == principal.user_id)
                ).all()
            )
            if count >= MAX_PER_USER:
                raise InvalidInput(f"at most {MAX_PER_USER} webhooks per user: delete one first")
            row = Webhook(
                user_id=principal.user_id,
                url=shown,
                sealed_secret=self.sealer.seal({"secret": secret, "url": url.strip()}),
                events=kinds,
            )
            session.add(row)
            session.flush()
            info = WebhookInfo(row.id, row.url, kinds, row.created_at, secret)
        self.audit.record(
            "webhook.create",
            actor=principal.name,
            target=str(info.id),
            client=client,
            detail={"url": info.url, "events": kinds},
        )
        return info

    def list(self, principal: Principal) -> list[WebhookInfo]:
        people_only(principal, "manage webhooks")
        with self.db.session() as session:
            rows = session.scalars(
                select(Webhook).where(Webhook.user_id == principal.user_id).order_by(Webhook.id)
            ).all()
            return [WebhookInfo(r.id, r.url, list(r.events or []), r.created_at) for r in rows]

    def delete(self, principal: Principal, webhook_id: int, *, client: str | None = None) -> None:
        """Delete one of one's webhooks (an admin may delete anyone's)."""
        people_only(principal, "manage webhooks")
        with self.db.session() as session:
            row = self._own(session, principal, webhook_id)
            shown = row.url
            session.delete(row)
        self.audit.record(
            "webhook.delete",
            actor=principal.name,
            target=str(webhook_id),
            client=client,
            detail={"url": shown},
        )

    def deliveries(
        self, principal: Principal, webhook_id: int, *, limit: int = 50
    ) -> builtins.list[DeliveryInfo]:
        people_only(principal, "manage webhooks")
        with self.db.session() as session:
            self._own(session, principal, webhook_id)
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(max(1, min(limit, 500)))
            ).all()
            return [
                DeliveryInfo(
                    r.id,
                    r.event_id,
                    r.status,
                    r.attempts,
                    r.response_status,
                    r.error,
                    r.created_at,
                    r.delivered_at,
                )
                for r in rows
            ]

    def _own(self, session: Any, principal: Principal, webhook_id: int) -> Webhook:
        row = session.get(Webhook, int(webhook_id))
        if row is None or (row.user_id != principal.user_id and principal.role != "admin"):
            # Another user's webhook is as unknown as a missing one.
            raise NotFound(f"no webhook {webhook_id} of {principal.name}'s")
        found: Webhook = row
        return found

    # -- queueing --------------------------------------------------------------------------

    def enqueue(self, event_ids: builtins.list[int]) -> int:
        """Queue a delivery of each event to each webhook whose owner's feed holds it (and
        who did not cause it). Returns how many were queued; sending is left to the sender.

        One query finds an event's webhooks, however many there are (an event about an app
        reads the app once more, for whom it is shared with)."""
        from atelier.services.auth import Principal

        activity = self._activity()
        queued: builtins.list[WebhookDelivery] = []
        with self.db.session() as session:
            events = session.scalars(
                select(ActivityEvent)
                .where(ActivityEvent.id.in_(sorted(set(event_ids))))
                .order_by(ActivityEvent.id)
            ).all()
            for event in events:
                query = (
                    select(Webhook.id, Webhook.events, User.id, User.name, User.role)
                    .join(User, User.id == Webhook.user_id)
                    .where(User.disabled.is_(False), activity.audience(event))
                    .order_by(Webhook.id)
                )
                if event.actor is not None:
                    query = query.where(User.name != event.actor)
                sees: Callable[[Principal], bool] | None = None
                for hook_id, kinds, user_id, name, role in session.execute(query):
                    if kinds and event.kind not in kinds:
                        continue
                    if event.subject_kind == "app":  # who it is shared with: read once
                        if sees is None:
                            sees = activity.subjects.app_seer(event.subject_id)
                        if not sees(Principal(user_id, name, role, "local")):
                            continue
                    queued.append(
                        WebhookDelivery(
                            webhook_id=hook_id,
                            event_id=event.id,
                            status="pending",
                            attempts=0,
                            next_attempt_at=datetime.now(UTC),
                        )
                    )
            session.add_all(queued)
        if queued:
            self.start()
            self._wake.set()
        return len(queued)

    # -- sending -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sender thread of this process (once)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="atelier-webhooks", daemon=True)
            self._thread.start()

    def resume(self) -> None:
        """Start the sender when deliveries wait (queued by the CLI, or by a server that
        stopped before sending them)."""
        with self.db.session() as session:
            waiting = session.scalar(
                select(WebhookDelivery.id).where(WebhookDelivery.status == "pending").limit(1)
            )
        if waiting is not None:
            self.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.settings.webhook_timeout_seconds + 5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.send_due() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("webhook sender failed; trying again")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def send_due(self) -> int:
        """Send the deliveries that are due (each claimed first, so that two servers never
        send one twice). Returns how many were tried."""
        now = datetime.now(UTC)
        with self.db.session() as session:
            due = session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id)
                .limit(20)
            ).all()
        tried = 0
        for delivery_id in due:
            if self._claim(delivery_id, now):
                self._send(delivery_id)
                tried += 1
        return tried

    def _claim(self, delivery_id: int, now: datetime) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    def _send(self, delivery_id: int) -> None:
        import httpx

        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            hook = session.get(Webhook, delivery.webhook_id)
            if hook is None:
                return
            sealed, event_id, attempts = (
                hook.sealed_secret,
                delivery.event_id,
                delivery.attempts + 1,
            )
        item = self._activity().event(event_id)
        status: int | None = None
        error: str | None = None
        if item is None:
            error = "the event no longer exists"
        else:
            body = json.dumps(
                {
                    "id": delivery_id,
                    "event": item.kind,
                    "at": item.at.isoformat(),
                    "actor": item.actor,
                    "subject": {
                        "kind": item.subject_kind,
                        "id": item.subject_id,
                        "project": item.project,
                    },
                    "summary": item.summary,
                    "link": item.link,
                    "detail": item.detail,
                },
                sort_keys=True,
            ).encode()
            timestamp = str(int(time.time()))
            try:
                opened = self.sealer.open(sealed, "a webhook's URL and secret")
                secret, url = str(opened["secret"]), str(opened["url"])
                scheme, host, port = check_url(url)
                address = resolve(host, port, self.settings.webhook_networks)
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "Atelier-Webhooks",
                    "X-Atelier-Event": item.kind,
                    "X-Atelier-Delivery": str(delivery_id),
                    "X-Atelier-Timestamp": timestamp,
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                }
                # Connect to the address just checked, whatever the name resolves to next.
                pinned = httpx.URL(url).copy_with(host=str(address))
                headers["Host"] = host if port in (80, 443) else f"{host}:{port}"
                with httpx.Client(
                    timeout=self.settings.webhook_timeout_seconds, follow_redirects=False
                ) as http:
                    request = http.build_request(
                        "POST",
                        pinned,
                        content=body,
                        headers=headers,
                        extensions={"sni_hostname": host} if scheme == "https" else {},
                    )
                    response = http.send(request)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"the receiver answered {status}"
            except (InvalidInput, PermissionDenied) as exc:
                error = str(exc)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        done = error is None
        final = done or attempts >= self.settings.webhook_attempts or item is None
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts = attempts
            delivery.response_status = status
            delivery.error = error
            if done:
                delivery.status = "delivered"
                delivery.delivered_at = datetime.now(UTC)
                delivery.next_attempt_at = None
            elif final:
                delivery.status = "failed"
                delivery.next_attempt_at = None
            else:
                wait = min(2 ** (attempts - 1), 300)
                delivery.next_attempt_at = datetime.now(UTC) + timedelta(seconds=wait)
