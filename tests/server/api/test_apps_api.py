from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.server.api.test_predict import Served
from tests.services.serving.helpers import EXAMPLE, add_accounts, workspace_with_model


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workspace = workspace_with_model(tmp_path_factory.mktemp("apps") / "ws")
    wb = Workbench(workspace)
    headers = add_accounts(wb)
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        created = client.post(
            "/api/v1/apps",
            json={"name": "churn-demo", "model": "churn@champion", "title": "Churn"},
            headers=headers["scientist1"],
        )
        assert created.status_code == 201, created.text
        yield Served(client, wb, headers)
    wb.close()


def call(served: Served, method: str, path: str, who: str, body: Any = None) -> Any:
    return served.client.request(method, f"/api/v1{path}", json=body, headers=served.headers[who])


def test_the_generated_form_follows_the_signature(served: Served) -> None:
    app = call(served, "GET", "/apps/churn-demo", "scientist1").json()
    widgets = {f["name"]: f["widget"] for f in app["form"]}
    assert widgets == {
        "age": "integer",
        "segment": "category",
        "country": "category",
        "monthly_fees": "number",
        "complaints": "integer",
        "has_credit_card": "boolean",
        "signup_date": "date",
        "note": "text",
    }
    segment = next(f for f in app["form"] if f["name"] == "segment")
    assert segment["options"] == ["affluent", "mass", "premier", "student"]
    assert all(f["default"] is not None for f in app["form"])


def test_viewers_see_only_apps_shared_with_them(served: Served) -> None:
    assert call(served, "GET", "/apps", "viewer1").json() == []
    assert call(served, "GET", "/apps/churn-demo", "viewer1").status_code == 404
    assert call(served, "POST", "/apps/churn-demo/predict", "viewer1", EXAMPLE).status_code == 404
    shared = call(served, "POST", "/apps/churn-demo/share", "scientist1", {"users": ["viewer1"]})
    assert shared.json()["shared_with"] == ["viewer1"]
    assert [a["name"] for a in call(served, "GET", "/apps", "viewer1").json()] == ["churn-demo"]
    assert call(served, "GET", "/apps", "viewer2").json() == []
    # Viewers still reach nothing else of the workspace.
    assert call(served, "GET", "/tables", "viewer1").status_code == 403
    assert call(served, "GET", "/apps/churn-demo/feedback", "viewer1").status_code == 403
    assert (
        call(served, "POST", "/apps/churn-demo/share", "viewer1", {"everyone": True}).status_code
        == 403
    )
    call(served, "POST", "/apps/churn-demo/share", "scientist1", {"everyone": True})
    assert len(call(served, "GET", "/apps", "viewer2").json()) == 1
    call(served, "POST", "/apps/churn-demo/share", "scientist1", {"everyone": False})


def test_feedback_lands_in_the_metadata_and_the_warehouse(served: Served) -> None:
    predicted = call(served, "POST", "/apps/churn-demo/predict", "viewer1", EXAMPLE).json()
    wrong = {
        "prediction_id": predicted["id"],
        "verdict": "wrong",
        "correct_value": "stay",
        "comment": "she renewed last week",
    }
    response = call(served, "POST", "/apps/churn-demo/feedback", "viewer1", wrong)
    assert response.status_code == 201, response.text
    assert response.json()["label"] == "stay"
    summary = call(served, "GET", "/apps/churn-demo/feedback", "scientist1").json()
    assert summary["total"] >= 1 and summary["comments"][0]["comment"] == "she renewed last week"
    assert summary["table"] == "feedback.churn_demo"

    served.workbench.serving.flush()
    rows = served.workbench.warehouse.read("churn_demo", schema="feedback").to_pylist()
    row = next(r for r in rows if r["prediction_id"] == predicted["id"])
    assert (row["verdict"], row["label"], row["given_by"]) == ("wrong", "stay", "viewer1")
    assert '"age":41' in row["inputs"] and row["prediction"] == predicted["prediction"]
    logged = served.workbench.warehouse.read("churn", schema="predictions").to_pylist()
    assert any(r["prediction_id"] == predicted["id"] and r["app"] == "churn-demo" for r in logged)


def test_feedback_must_quote_a_prediction_of_the_app(served: Served) -> None:
    direct = call(served, "POST", "/models/churn/predict", "scientist1", EXAMPLE).json()
    body = {"prediction_id": direct["id"], "verdict": "right"}
    response = call(served, "POST", "/apps/churn-demo/feedback", "scientist1", body)
    assert response.status_code == 422 and "not made through app" in response.json()["detail"]
    body = {"prediction_id": "0" * 32, "verdict": "right"}
    assert call(served, "POST", "/apps/churn-demo/feedback", "scientist1", body).status_code == 404
    predicted = call(served, "POST", "/apps/churn-demo/predict", "scientist1", EXAMPLE).json()
    body = {"prediction_id": predicted["id"], "verdict": "maybe"}
    response = call(served, "POST", "/apps/churn-demo/feedback", "scientist1", body)
    assert response.status_code == 422 and "'right' or 'wrong'" in response.json()["detail"]


def test_pause_resume_and_delete(served: Served) -> None:
    call(served, "POST", "/apps", "admin1", {"name": "short-lived", "model": "churn"})
    call(served, "POST", "/apps/short-lived/share", "admin1", {"users": ["viewer2"]})
    assert call(served, "POST", "/apps/short-lived/pause", "scientist1").status_code == 403
    assert call(served, "POST", "/apps/short-lived/pause", "admin1").json()["status"] == "paused"
    assert call(served, "GET", "/apps", "viewer2").json() == []
    assert call(served, "POST", "/apps/short-lived/predict", "viewer2", EXAMPLE).status_code == 409
    call(served, "POST", "/apps/short-lived/resume", "admin1")
    assert call(served, "POST", "/apps/short-lived/predict", "viewer2", EXAMPLE).status_code == 200
    assert call(served, "DELETE", "/apps/short-lived", "admin1").status_code == 200
    assert call(served, "GET", "/apps/short-lived", "admin1").status_code == 404


def test_creating_apps_checks_name_model_and_role(served: Served) -> None:
    bad = call(served, "POST", "/apps", "scientist1", {"name": "Bad Name", "model": "churn"})
    assert bad.status_code == 422 and "app name 'Bad Name'" in bad.json()["detail"]
    missing = call(served, "POST", "/apps", "scientist1", {"name": "x", "model": "nope@a"})
    assert missing.status_code == 404
    again = call(served, "POST", "/apps", "scientist1", {"name": "churn-demo", "model": "churn"})
    assert again.status_code == 409
    assert (
        call(served, "POST", "/apps", "viewer1", {"name": "v", "model": "churn"}).status_code == 403
    )
