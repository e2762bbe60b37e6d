"""containers.require_test_for_production: the production alias moves only to a version whose
image passed its container test (the registry checks it, whoever asks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.errors import Conflict
from atelier.services.auth import Principal
from atelier.services.tracking.registry import CONTAINER_TEST_TAG, ModelRegistry
from tests.services.serving.helpers import register_churn_model
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]

ADA = Principal(1, "ada", "admin", "local")


def test_production_points_only_at_a_version_whose_container_test_passed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register_churn_model(uri, tmp_path / "artifacts")
    registry = ModelRegistry(uri, tested_aliases=("production",))

    with pytest.raises(Conflict, match="churn/1 has no passing container test"):
        registry.set_alias("churn", "production", 1, by=ADA)
    for value in ({"passed": False}, "not json"):
        text = value if isinstance(value, str) else json.dumps(value)
        registry.client.set_model_version_tag("churn", "1", CONTAINER_TEST_TAG, text)
        with pytest.raises(Conflict, match="has no passing container test"):
            registry.set_alias("churn", "production", 1, by=ADA)
    assert "production" not in registry.versions("churn")[0]["aliases"]

    registry.client.set_model_version_tag(
        "churn", "1", CONTAINER_TEST_TAG, json.dumps({"passed": True})
    )
    assert "production" in registry.set_alias("churn", "production", 1, by=ADA)["aliases"]
    # Other aliases never needed a test, and without the setting production does not either.
    registry.client.delete_model_version_tag("churn", "1", CONTAINER_TEST_TAG)
    registry.set_alias("churn", "staging", 1, by=ADA)
    registry.delete_alias("churn", "production", by=ADA)
    ModelRegistry(uri).set_alias("churn", "production", 1, by=ADA)
