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

from atelier.errors import InvalidInput, NotFound
from tests.conftest import new_workspace
from tests.services.discussion.conftest import Scene, make_scene


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
