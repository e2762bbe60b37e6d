"""The model card's "Publish as app" form, in-process with a real MLflow registry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.serving.helpers import add_accounts, workspace_with_model


@dataclass
class Portal:
    client: TestClient
    workbench: Workbench
    headers: dict[str, dict[str, str]]
    csrf: str


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    workbench = Workbench(workspace_with_model(tmp_path_factory.mktemp("models-page") / "ws"))
    headers = add_accounts(workbench)
    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf
        done = client.post(
            "/login",
            data={"name": "scientist1", "password": PASSWORD, "csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        page = client.get("/models/churn")
        assert page.status_code == 200 and "Publish as app" in page.text
        assert '<option value="alias:champion" selected>@champion (version 1)</option>' in page.text
        assert '<option value="version:1">version 1</option>' in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        yield Portal(client, workbench, headers, token.group(1))
    workbench.close()


def publish(portal: Portal, **form: str) -> object:
    return portal.client.post(
        "/models/churn/publish", data={"csrf_token": portal.csrf, **form}, follow_redirects=False
    )


def test_publish_an_alias_shared_with_everyone(portal: Portal) -> None:
    response = publish(portal, app="churn-app", target="alias:champion", everyone="on")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/apps/churn-app"  # type: ignore[attr-defined]
    app = portal.workbench.apps.registry.get("churn-app")
    assert (app.model, app.owner, app.shared_with_all) == ("churn@champion", "scientist1", True)
    page = portal.client.get("/apps/churn-app")
    assert page.status_code == 200 and 'name="segment"' in page.text
    viewer = portal.client.get("/api/v1/apps", headers=portal.headers["viewer1"]).json()
    assert [a["name"] for a in viewer] == ["churn-app"]


def test_publish_a_version_not_shared(portal: Portal) -> None:
    response = publish(portal, app="churn-v1", target="version:1", title="First churn")
    assert response.status_code == 303  # type: ignore[attr-defined]
    app = portal.workbench.apps.registry.get("churn-v1")
    assert (app.model, app.title, app.shared_with_all) == ("churn/1", "First churn", False)
    assert portal.client.get("/apps/churn-v1").status_code == 200


def test_bad_input_shows_the_card_again_with_the_error(portal: Portal) -> None:
    page = publish(portal, app="Bad Name", target="alias:champion", everyone="on")
    assert page.status_code == 422  # type: ignore[attr-defined]
    text = page.text  # type: ignore[attr-defined]
    assert "app name &#39;Bad Name&#39; is not valid" in text
    assert 'value="Bad Name"' in text and "checked" in text
    missing = publish(portal, app="other", target="alias:nope")
    assert missing.status_code == 404  # type: ignore[attr-defined]
    assert "has no alias &#39;nope&#39;" in missing.text  # type: ignore[attr-defined]
    assert publish(portal, app="other", target="").status_code == 422  # type: ignore[attr-defined]


def test_csrf_and_roles_are_checked(portal: Portal) -> None:
    forged = portal.client.post(
        "/models/churn/publish",
        data={"csrf_token": "forged", "app": "x", "target": "alias:champion"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    # A second client (no session cookie), without the lifespan: the viewer's token alone.
    other = TestClient(create_app(portal.workbench), base_url="http://127.0.0.1")
    viewer = other.post(
        "/models/churn/publish",
        data={"app": "x", "target": "alias:champion"},
        headers=portal.headers["viewer1"],
        follow_redirects=False,
    )
    assert viewer.status_code == 403
    assert "x" not in {a.name for a in portal.workbench.apps.registry.list()}
