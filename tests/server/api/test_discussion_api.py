"""Comments, activity and webhooks over HTTP: roles, ownership, escaping, refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from atelier.backends.metadata import AppRecord, AppShare, User
from tests.conftest import Accounts


@pytest.fixture
def shared_app(workbench: Any, accounts: Accounts) -> str:
    """App ``demo`` of scientist1, shared with viewer1; app ``secret`` shared with nobody."""
    with workbench.db.session() as session:
        viewer = session.query(User).filter_by(name="viewer1").one()
        for name in ("demo", "secret"):
            app = AppRecord(name=name, kind="streamlit", title=name, owner="scientist1")
            session.add(app)
            session.flush()
            if name == "demo":
                session.add(AppShare(app_id=app.id, user_id=viewer.id))
    return "demo"


def test_comments_over_the_api(client: Any, accounts: Accounts, shared_app: str) -> None:
    sci, viewer, admin = (accounts.headers(r) for r in ("scientist", "viewer", "admin"))
    assert client.get("/api/v1/comments", params={"kind": "app", "id": "demo"}).status_code == 401
    attack = '<script>alert("x")</script> @scientist1 see run:abc123 <img src=x onerror=alert(1)>'
    made = client.post(
        "/api/v1/comments", headers=viewer, json={"kind": "app", "id": "demo", "body": attack}
    )
    assert made.status_code == 201, made.text
    comment = made.json()
    assert comment["body"] == attack and comment["mentions"] == ["scientist1"]
    assert "<script>" not in comment["html"] and "<img" not in comment["html"]
    assert "&lt;script&gt;" in comment["html"]
    assert '<a class="reference" href="/discussion/run/abc123">run:abc123</a>' in comment["html"]

    listed = client.get("/api/v1/comments", headers=sci, params={"kind": "app", "id": "demo"})
    assert [c["id"] for c in listed.json()] == [comment["id"]]
    hidden = client.post(
        "/api/v1/comments", headers=viewer, json={"kind": "app", "id": "secret", "body": "hi"}
    )
    assert hidden.status_code == 404
    bad = client.post(
        "/api/v1/comments", headers=sci, json={"kind": "wiki", "id": "x", "body": "hi"}
    )
    assert bad.status_code == 422 and "subject kind 'wiki'" in bad.json()["detail"]

    path = f"/api/v1/comments/{comment['id']}"
    assert client.patch(path, headers=sci, json={"body": "mine now"}).status_code == 403
    assert client.delete(path, headers=sci).status_code == 403
    assert client.patch(path, headers=viewer, json={"body": "edited"}).json()["body"] == "edited"
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=viewer).json()["deleted_by"] == "admin1"

    feed = client.get("/api/v1/activity", headers=sci).json()
    # scientist1 owns the app: told of the comment on it, and of the mention.
    assert [(i["kind"], i["actor"]) for i in feed] == [
        ("mention", "viewer1"),
        ("comment", "viewer1"),
    ]
    # A project's feed is for its members: a scientist in no project gets a refusal.
    assert client.get("/api/v1/activity", headers=sci, params={"project": "x"}).status_code == 403


@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_webhooks_over_the_api(client: Any, accounts: Accounts, workbench: Any) -> None:
    sci, admin = accounts.headers("scientist"), accounts.headers("admin")
    refused = client.post(
        "/api/v1/webhooks", headers=sci, json={"url": "http://127.0.0.1:8700/api/v1/users"}
    )
    assert refused.status_code == 422 and "internal address" in refused.json()["detail"]
    assert client.get("/api/v1/webhooks", headers=sci).json() == []
    code = workbench.tokens.create_for(
        "scientist1", "notebook scientist1", frozenset({"tracking"}), timedelta(hours=1)
    )[1]
    as_code = {"Authorization": f"Bearer {code}"}
    assert client.get("/api/v1/activity", headers=as_code).status_code == 403
    assert client.get("/api/v1/webhooks", headers=as_code).status_code == 403
    assert client.delete("/api/v1/webhooks/1", headers=admin).status_code == 404
