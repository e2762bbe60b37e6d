"""The model registry API: register from a run, aliases, cards; viewers refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import Accounts
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def test_register_alias_card_and_roles(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench, tmp_path: Path
) -> None:
    registry = workbench.models
    run_id = log_model_run(registry.tracking_uri, tmp_path / "artifacts")
    empty = log_model_run(registry.tracking_uri, tmp_path / "artifacts", model=False)
    sci = accounts.headers("scientist")
    viewer = accounts.headers("viewer")

    body = {"run_id": run_id, "name": "churn", "alias": "champion"}
    assert client.post("/api/v1/models", json=body, headers=viewer).status_code == 403
    created = client.post("/api/v1/models", json=body, headers=sci)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["registered_by"] == "scientist1"
    second = client.post("/api/v1/models", json={"run_id": run_id, "name": "churn"}, headers=sci)
    assert second.json()["version"] == 2

    moved = client.put("/api/v1/models/churn/aliases/challenger", json={"version": 2}, headers=sci)
    assert moved.status_code == 200 and moved.json()["aliases"] == ["challenger"]
    listed = client.get("/api/v1/models", headers=sci).json()
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in listed] == [
        ("churn", 2, {"champion": 1, "challenger": 2})
    ]
    versions = client.get("/api/v1/models/churn/versions", headers=sci).json()
    assert [v["version"] for v in versions] == [2, 1]

    card = client.get("/api/v1/models/churn/card?alias=champion", headers=sci).json()
    assert card["version"] == 1 and card["run_id"] == run_id
    assert card["data_versions"] == [{"table": "bank.customers", "version": 3}]
    assert card["environment"]["packages"]
    assert [c["name"] for c in card["signature"]["inputs"]] == ["fees", "tenure"]
    assert client.get("/api/v1/models/churn/card", headers=sci).json()["version"] == 2

    for method, path in (
        ("GET", "/api/v1/models"),
        ("GET", "/api/v1/models/churn/card"),
        ("GET", "/api/v1/models/churn/versions"),
        ("DELETE", "/api/v1/models/churn/aliases/champion"),
    ):
        assert client.request(method, path, headers=viewer).status_code == 403
    assert client.get("/api/v1/models").status_code == 401

    gone = client.delete("/api/v1/models/churn/aliases/challenger", headers=sci)
    assert gone.status_code == 204
    missing = client.get("/api/v1/models/churn/card?alias=challenger", headers=sci)
    assert missing.status_code == 404 and "has no alias 'challenger'" in missing.json()["detail"]
    unknown = client.post("/api/v1/models", json={"run_id": "0" * 32, "name": "x"}, headers=sci)
    assert unknown.status_code == 404 and "no run" in unknown.json()["detail"]
    no_model = client.post("/api/v1/models", json={"run_id": empty, "name": "x"}, headers=sci)
    assert no_model.status_code == 404 and "logged no model" in no_model.json()["detail"]
    bad = client.put("/api/v1/models/churn/aliases/v1", json={"version": 1}, headers=sci)
    assert bad.status_code == 422
    actions = [e.action for e in workbench.audit.entries(limit=10)]
    assert "model.register" in actions and "model.alias" in actions
