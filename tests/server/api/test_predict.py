from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.services.serving.helpers import EXAMPLE, add_accounts, workspace_with_model


@dataclass
class Served:
    client: TestClient
    workbench: Workbench
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workspace = workspace_with_model(tmp_path_factory.mktemp("predict") / "ws")
    wb = Workbench(workspace)
    headers = add_accounts(wb)
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        yield Served(client, wb, headers)
    wb.close()


def post(served: Served, path: str, body: Any, who: str = "scientist1") -> Any:
    return served.client.post(f"/api/v1{path}", json=body, headers=served.headers[who])


def test_one_record_in_one_prediction_out(served: Served) -> None:
    response = post(served, "/models/churn@champion/predict", EXAMPLE)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["model"] == "churn" and found["version"] == 1
    assert found["prediction"] in ("churn", "stay")
    assert 0.5 <= found["probability"] <= 1
    assert len(found["id"]) == 32


def test_batches_alias_parameter_and_mlflow_formats(served: Served) -> None:
    records = [EXAMPLE, {**EXAMPLE, "age": 23}]
    for body in (records, {"records": records}, {"dataframe_records": records}):
        response = post(served, "/models/churn/predict?alias=champion", body)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 2
    split = {"dataframe_split": {"columns": list(EXAMPLE), "data": [list(EXAMPLE.values())]}}
    assert len(post(served, "/models/churn/predict?version=1", split).json()["predictions"]) == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({k: v for k, v in EXAMPLE.items() if k != "age"}, "field 'age' (long) is missing"),
        ({**EXAMPLE, "age": "old"}, "field 'age': expected an integer, got the string 'old'"),
        ({**EXAMPLE, "monthly_fees": True}, "field 'monthly_fees': expected a number"),
        ({**EXAMPLE, "colour": "red"}, "unknown field 'colour'"),
        ({**EXAMPLE, "signup_date": "yesterday"}, "field 'signup_date': expected a date"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    served: Served, record: dict[str, Any], message: str
) -> None:
    response = post(served, "/models/churn@champion/predict", record)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_bad_bodies_and_unknown_models(served: Served) -> None:
    response = served.client.post(
        "/api/v1/models/churn/predict", content=b"{nope", headers=served.headers["scientist1"]
    )
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
    assert post(served, "/models/nope/predict", EXAMPLE).status_code == 404
    assert post(served, "/models/churn@nope/predict", EXAMPLE).status_code == 404
    assert post(served, "/models/churn@a/predict?alias=b", EXAMPLE).status_code == 422


def test_viewers_and_strangers_cannot_call_models(served: Served) -> None:
    assert post(served, "/models/churn/predict", EXAMPLE, "viewer1").status_code == 403
    assert served.client.post("/api/v1/models/churn/predict", json=EXAMPLE).status_code == 401


def test_predictions_are_logged_with_the_caller(served: Served) -> None:
    found = post(served, "/models/churn@champion/predict", EXAMPLE, "admin1").json()
    served.workbench.serving.flush()
    rows = served.workbench.warehouse.read("churn", schema="predictions").to_pylist()
    row = next(r for r in rows if r["prediction_id"] == found["id"])
    assert row["caller"] == "admin1" and row["app"] is None


def test_serving_info_describes_the_version(served: Served) -> None:
    response = served.client.get(
        "/api/v1/models/churn/serving?alias=champion", headers=served.headers["scientist1"]
    )
    info = response.json()
    assert info["version"] == 1 and info["classes"] == ["churn", "stay"]
    assert [c["name"] for c in info["inputs"]] == list(EXAMPLE)
    assert info["endpoint"] == "/api/v1/models/churn/predict"
