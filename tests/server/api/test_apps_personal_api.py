"""The apps API keeps personal data out of what it logs and answers: the form marks personal
fields, feedback comments are masked, and only an app's owner or an admin marks fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.pii.policies import REDACTED
from atelier.services.workbench import Workbench
from tests.server.api.test_predict import Served
from tests.services.serving.helpers import add_accounts
from tests.services.serving.personal_model import (
    ACCOUNT,
    EMAIL,
    NAME,
    RECORD,
    workspace_with_contacts,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workspace = workspace_with_contacts(tmp_path_factory.mktemp("apps-personal") / "ws")
    wb = Workbench(workspace)
    headers = add_accounts(wb)
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        created = client.post(
            "/api/v1/apps",
            json={"name": "contacts-app", "model": "contacts@champion"},
            headers=headers["scientist1"],
        )
        assert created.status_code == 201, created.text
        shared = client.post(
            "/api/v1/apps/contacts-app/share",
            json={"users": ["viewer1"]},
            headers=headers["scientist1"],
        )
        assert shared.status_code == 200, shared.text
        yield Served(client, wb, headers)
    wb.close()


def call(served: Served, method: str, path: str, who: str, body: Any = None) -> Any:
    return served.client.request(method, f"/api/v1{path}", json=body, headers=served.headers[who])


def test_the_form_says_which_fields_are_personal(served: Served) -> None:
    response = call(served, "GET", "/apps/contacts-app", "viewer1")
    app = response.json()
    assert {f["name"]: f["personal"] for f in app["form"] if f["personal"]} == {
        "email": "email",
        "full_name": "person_name",
        "account": "iban",
    }
    assert next(f for f in app["form"] if f["name"] == "email")["default"] is None
    assert {p["name"]: p["source"] for p in app["personal"]}["account"] == "training"
    assert EMAIL not in response.text and NAME not in response.text


def test_a_comment_with_an_email_is_masked(served: Served) -> None:
    predicted = call(served, "POST", "/apps/contacts-app/predict", "viewer1", RECORD)
    assert predicted.status_code == 200, predicted.text
    body = {
        "prediction_id": predicted.json()["id"],
        "verdict": "wrong",
        "comment": f"reply to {EMAIL}",
    }
    given = call(served, "POST", "/apps/contacts-app/feedback", "viewer1", body)
    assert given.status_code == 201, given.text
    assert given.json()["comment"] == REDACTED
    assert EMAIL not in given.text and ACCOUNT not in given.text
    summary = call(served, "GET", "/apps/contacts-app/feedback", "scientist1")
    assert summary.status_code == 200
    assert EMAIL not in summary.text and NAME not in summary.text and ACCOUNT not in summary.text
    served.workbench.serving.flush()
    rows = served.workbench.warehouse.read("contacts_app", schema="feedback").to_pylist()
    assert rows and EMAIL not in json.dumps(rows, default=str)


def test_only_the_owner_or_an_admin_marks_fields(served: Served) -> None:
    mark = {"field": "city", "kind": "postal_address"}
    for who in ("viewer1", "viewer2"):
        assert call(served, "POST", "/apps/contacts-app/personal", who, mark).status_code == 403
    # Another scientist is not the owner (the owner is scientist1).
    served.workbench.users.create("scientist2", "scientist", "correct horse battery")
    token = served.workbench.tokens.create("scientist2", "test", 1)[1]
    served.headers["scientist2"] = {"Authorization": f"Bearer {token}"}
    assert (
        call(served, "POST", "/apps/contacts-app/personal", "scientist2", mark).status_code == 403
    )
    anonymous = served.client.post("/api/v1/apps/contacts-app/personal", json=mark)
    assert anonymous.status_code == 401

    marked = call(served, "POST", "/apps/contacts-app/personal", "admin1", mark)
    assert marked.status_code == 200, marked.text
    assert {"name": "city", "kind": "postal_address", "source": "owner"} in marked.json()
    bad = [
        ({"field": "city", "kind": "shoe_size"}, 422),
        ({"field": "ghost", "kind": "email"}, 404),
        ({"field": "account", "kind": "none"}, 422),
        ({"field": "city", "kind": "email", "extra": 1}, 422),
    ]
    for body, status in bad:
        response = call(served, "POST", "/apps/contacts-app/personal", "scientist1", body)
        assert response.status_code == status, (body, response.text)
    taken = call(
        served, "POST", "/apps/contacts-app/personal", "scientist1", {**mark, "kind": "auto"}
    )
    assert "city" not in {p["name"] for p in taken.json()}
