"""Webhooks: where they may send, signed deliveries to a local receiver, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import delete, select

from atelier.backends.metadata import Dataset, ProjectMember, ProjectRecord, User
from atelier.backends.metadata.models import CommentRecord, Webhook, WebhookDelivery
from atelier.errors import InvalidInput, NotFound
from atelier.services.activity import Subject
from atelier.services.auth import Principal
from tests.conftest import new_workspace
from tests.services.discussion.conftest import Scene, Statements, make_scene


class Receiver:
    """A local HTTP server that records what it receives and answers the given statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, f"received {len(self.received)} of {count}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def allowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """A workspace whose admin allowed webhooks to reach 127.0.0.1 (the local receiver)."""
    root = new_workspace(tmp_path_factory.mktemp("webhooks") / "ws")
    settings = '\n[notifications]\nwebhook_networks = ["127.0.0.1/32"]\n'
    yield from make_scene(root, settings=settings, tracking=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_internal_addresses_are_refused_unless_an_admin_allows_them(
    tmp_path_factory: pytest.TempPathFactory, allowed: Scene
) -> None:
    root = new_workspace(tmp_path_factory.mktemp("closed") / "ws")
    for scene in make_scene(root, tracking=False):
        ada = scene.people["ada"]
        for url in (
            "http://127.0.0.1:8700/api/v1/users",
            "http://localhost:5000/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://0.0.0.0/",
            # IPv6 spellings that carry an internal IPv4 address (NAT64, 6to4, compatible).
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[::a9fe:a9fe]/",
            "http://[::ffff:127.0.0.1]/",
        ):
            with pytest.raises(InvalidInput, match="internal address"):
                scene.wb.webhooks.create(ada, url)
        for url, why in (
            ("file:///etc/passwd", "must start with https:// or http://"),
            ("gopher://example.com/", "must start with https:// or http://"),
            ("http://user:pw@example.com/", "user name or password"),
            ("http:///nohost", "names no host"),
        ):
            with pytest.raises(InvalidInput, match=why):
                scene.wb.webhooks.create(ada, url)
        assert scene.wb.webhooks.list(ada) == []
    # Allowed networks are exactly those configured: 127.0.0.1, not the rest of loopback.
    with pytest.raises(InvalidInput, match="internal address"):
        allowed.wb.webhooks.create(allowed.people["ada"], "http://127.0.0.2:9/")


def test_a_mention_is_delivered_signed_in_the_background(
    allowed: Scene, receiver: Receiver
) -> None:
    wb, p = allowed.wb, allowed.people
    hook = wb.webhooks.create(p["ada"], receiver.url, ["mention"])
    assert hook.secret and hook.secret.startswith("whsec_")
    listed = wb.webhooks.list(p["ada"])[0].as_dict()
    assert "secret" not in listed
    # The URL (a secret for many chat services) is shown and audited as its host only.
    assert listed["url"] == receiver.url.removesuffix("/hook") + "/…"
    made = wb.audit.entries(action="webhook.create")[0]
    assert "/hook" not in str(made.detail)
    # val (a viewer of the demo app) mentions ada there: one delivery, to ada's receiver.
    wb.discussion.post(p["val"], "app", "demo", "@ada the <b>form</b> is great")
    receiver.wait(1)
    headers, body = receiver.received[0]
    expected = hmac.new(
        hook.secret.encode(), headers["x-atelier-timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["x-atelier-signature"] == f"sha256={expected}"
    assert headers["x-atelier-event"] == "mention"
    sent = json.loads(body)
    assert sent["event"] == "mention" and sent["actor"] == "val"
    assert sent["subject"] == {"kind": "app", "id": "demo", "project": None}
    assert sent["link"] == "/apps/demo"
    # The comment event itself was not asked for; nothing else arrives.
    time.sleep(0.3)
    assert len(receiver.received) == 1
    delivered = wb.webhooks.deliveries(p["ada"], hook.id)
    assert [(d.status, d.attempts) for d in delivered] == [("delivered", 1)]
    wb.webhooks.delete(p["ada"], hook.id)


def test_a_failed_delivery_is_tried_again(allowed: Scene, receiver: Receiver) -> None:
    wb, p = allowed.wb, allowed.people
    hook = wb.webhooks.create(p["ada"], receiver.url, ["mention"])
    receiver.statuses = [500]
    wb.discussion.post(p["val"], "app", "demo", "@ada again")
    receiver.wait(2)  # the first answer was a 500: sent again a second later
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = [d for d in wb.webhooks.deliveries(p["ada"], hook.id) if d.status == "delivered"]
        if done:
            break
        time.sleep(0.05)
    assert done and done[0].attempts == 2 and done[0].response_status == 204
    wb.webhooks.delete(p["ada"], hook.id)


def test_webhooks_are_their_owners(allowed: Scene, receiver: Receiver) -> None:
    wb, p = allowed.wb, allowed.people
    hook = wb.webhooks.create(p["ada"], receiver.url)
    with pytest.raises(NotFound):
        wb.webhooks.deliveries(p["bob"], hook.id)
    with pytest.raises(NotFound):
        wb.webhooks.delete(p["bob"], hook.id)
    assert wb.webhooks.list(p["bob"]) == []
    with pytest.raises(InvalidInput, match="unknown event"):
        wb.webhooks.create(p["ada"], receiver.url, ["everything"])
    wb.webhooks.delete(p["root"], hook.id)  # an admin may remove anyone's
    assert wb.webhooks.list(p["ada"]) == []


def test_waiting_deliveries_are_sent_when_a_sender_resumes(
    allowed: Scene, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb, p = allowed.wb, allowed.people
    hook = wb.webhooks.create(p["ada"], receiver.url, ["mention"])
    wb.webhooks.stop()
    # Queued by a process that sends nothing (the CLI exits at once): stored, not sent.
    with monkeypatch.context() as patched:
        patched.setattr(wb.webhooks, "start", lambda: None)
        wb.discussion.post(p["val"], "app", "demo", "@ada queued while no server runs")
    time.sleep(0.3)
    assert receiver.received == []
    assert [d.status for d in wb.webhooks.deliveries(p["ada"], hook.id)] == ["pending"]
    wb.webhooks.resume()  # what a server does when it starts
    receiver.wait(1)
    assert b"queued while no server runs" in receiver.received[0][1]
    wb.webhooks.delete(p["ada"], hook.id)


def _events(scene: Scene) -> dict[str, int]:
    """Events of every kind, about subjects in and out of project churn (webhooks not told)."""
    wb, p = scene.wb, scene.people
    with wb.db.session() as session:
        session.add(Dataset(name="bank.owned", owner="bob"))
        session.add_all(
            CommentRecord(subject_kind=kind, subject_id=subject, author=author, body="seen")
            for kind, subject, author in (
                ("table", "bank.discussed", "val"),
                ("table", "bank.discussed", "root"),
                ("experiment", "7", "bob"),
                ("app", "secret", "val"),
            )
        )
    record = wb.activity.record
    return {
        "app comment": record(
            "comment", Subject("app", "demo", None, "ada"), actor="val", summary="s"
        )[0],
        "app comment (secret)": record(
            "comment", Subject("app", "secret", None, "ada"), actor="root", summary="s"
        )[0],
        "open comment": record("comment", Subject("experiment", "7"), actor="root", summary="s")[0],
        "project comment": record(
            "comment", Subject("experiment", "8", "churn"), actor="root", summary="s"
        )[0],
        "run": record("run", Subject("run", "f" * 32, "churn", "ada"), actor="ada", summary="s")[0],
        "owned table": record(
            "table.version", Subject("table", "bank.owned"), actor="root", summary="s"
        )[0],
        "discussed table": record(
            "table.version", Subject("table", "bank.discussed"), actor="ada", summary="s"
        )[0],
        "written table": record(
            "table.version", Subject("table", "bank.discussed"), actor="bob", summary="s"
        )[0],
        "mention": record(
            "mention",
            Subject("experiment", "7"),
            actor="ada",
            summary="s",
            recipients=[p["bob"].user_id, p["val"].user_id, p["root"].user_id],
        )[0],
        "app feedback": record(
            "app.feedback",
            Subject("app", "demo", None, "ada"),
            actor="val",
            summary="s",
            recipients=[p["ada"].user_id],
        )[0],
        "model": record("model.register", Subject("model", "churn/1"), actor="bob", summary="s")[0],
    }


def test_webhooks_get_the_events_of_their_owners_feeds_in_one_query_each(
    allowed: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb, p = allowed.wb, allowed.people
    wb.webhooks.stop()
    monkeypatch.setattr(wb.webhooks, "start", lambda: None)  # queued, never sent
    monkeypatch.setattr(wb.activity, "notify", None)  # queued below, one event at a time
    eve = wb.users.ensure("eve", "scientist")
    with wb.db.session() as session:
        churn = session.scalar(select(ProjectRecord.id).where(ProjectRecord.name == "churn"))
        for name in ("val", "root"):
            session.add(ProjectMember(project_id=churn, user_id=p[name].user_id, role="viewer"))
    events = _events(allowed)
    readers = [p[name] for name in ("ada", "bob", "val", "root")]
    hooks = {r.name: wb.webhooks.create(r, "http://127.0.0.1:9/hook").id for r in readers}
    hooks["eve"] = wb.webhooks.create(
        Principal(eve.id, "eve", "scientist", "local"), "http://127.0.0.1:9/hook"
    ).id
    with wb.db.session() as session:
        session.get(User, eve.id).disabled = True  # type: ignore[union-attr]
    owner_of = {hook: name for name, hook in hooks.items()}
    feeds = {r.name: {i.id for i in wb.activity.feed(r, limit=200)} for r in readers}
    for label, event_id in events.items():
        actor = wb.activity.event(event_id).actor  # type: ignore[union-attr]
        expected = {n for n, ids in feeds.items() if event_id in ids and n != actor}
        with Statements(wb.db.engine) as selects:
            wb.webhooks.enqueue([event_id])
        with wb.db.session() as session:
            told = {
                owner_of[hook]
                for hook in session.scalars(
                    select(WebhookDelivery.webhook_id).where(WebhookDelivery.event_id == event_id)
                )
            }
        assert told == expected, label
        # The event, its webhooks; an app's event reads the app (its row and its shares).
        assert selects.count <= (4 if label.startswith("app") else 2), label
    # The feeds differ: the comparison above was not one of empty sets.
    assert feeds["ada"] != feeds["bob"] and events["run"] in feeds["ada"]
    assert events["app comment (secret)"] not in feeds["val"]

    # More webhooks, the same number of queries.
    def queue_one() -> tuple[int, int]:
        (event_id,) = wb.activity.record(
            "comment", Subject("app", "demo", None, "ada"), actor="root", summary="s"
        )
        with Statements(wb.db.engine) as selects:
            queued = wb.webhooks.enqueue([event_id])
        return queued, selects.count

    few = queue_one()
    extra = [wb.webhooks.create(r, "http://127.0.0.1:9/more").id for r in readers for _ in range(4)]
    many = queue_one()
    assert many[0] == 5 * few[0] > 0
    assert many[1] == few[1]
    for hook in [*hooks.values(), *extra]:
        with wb.db.session() as session:
            session.execute(delete(Webhook).where(Webhook.id == hook))
