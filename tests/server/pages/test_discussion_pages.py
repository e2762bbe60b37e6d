"""The comments block, the discussion page and the activity page: escaping, refusals, HTMX."""

from __future__ import annotations

from typing import Any

import pytest

from atelier.backends.metadata import AppRecord, AppShare, User
from atelier.services.auth import Principal
from tests.conftest import Accounts

#: The pages read what the API tests check on both databases.
pytestmark = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


def _apps(workbench: Any) -> None:
    with workbench.db.session() as session:
        viewer = session.query(User).filter_by(name="viewer1").one()
        for name in ("demo", "secret"):
            app = AppRecord(name=name, kind="streamlit", title=name, owner="scientist1")
            session.add(app)
            session.flush()
            if name == "demo":
                session.add(AppShare(app_id=app.id, user_id=viewer.id))


def test_comments_block_and_activity_page(client: Any, accounts: Accounts, workbench: Any) -> None:
    _apps(workbench)
    sci, viewer = accounts.headers("scientist"), accounts.headers("viewer")
    htmx = viewer | {"HX-Request": "true"}
    attack = "<script>alert(1)</script> @scientist1 <img src=x onerror=alert(2)> model:churn/2"
    posted = client.post(
        "/discussion/comments", headers=htmx, data={"kind": "app", "id": "demo", "body": attack}
    )
    assert posted.status_code == 200
    block = posted.text
    assert block.lstrip().startswith("<section") and 'data-testid="discussion"' in block
    assert "<script>alert" not in block and "<img src=x" not in block
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    assert '<span class="mention">@scientist1</span>' in block
    assert '<a class="reference" href="/models/churn?version=2">model:churn/2</a>' in block

    # The subject's page shows it; another user's delete is refused inside the block.
    page = client.get("/discussion/app/demo", headers=sci)
    assert page.status_code == 200 and "&lt;script&gt;" in page.text
    comment_id = workbench.discussion.thread(
        Principal(1, "admin1", "admin", "local"), "app", "demo"
    )[0].id
    refused = client.post(
        f"/discussion/comments/{comment_id}/delete", headers=sci | {"HX-Request": "true"}
    )
    assert refused.status_code == 200 and "only its author or an admin" in refused.text
    hidden = client.post(
        "/discussion/comments", headers=viewer, data={"kind": "app", "id": "secret", "body": "x"}
    )
    assert hidden.status_code == 404
    assert client.get("/discussion/app/secret", headers=viewer).status_code == 404

    feed = client.get("/activity", headers=sci)
    assert feed.status_code == 200
    assert "viewer1 mentioned you on app demo" in feed.text and "&lt;script&gt;" in feed.text
    assert "<script>alert" not in feed.text
    home = client.get("/", headers=sci)
    card = home.text[home.text.index('data-testid="home-activity"') :]
    assert "viewer1 mentioned you on app demo" in card and 'href="/activity"' in card
