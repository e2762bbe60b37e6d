"""A pipeline logged the plain MLflow way in the workspace is served like any other model."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from atelier.services.auth import Principal
from atelier.services.serving import ModelServer
from atelier.services.tracking import capture
from atelier.services.tracking.references import parse_reference
from atelier.services.workbench import Workbench
from tests.services.serving.conftest import Registered
from tests.services.serving.helpers import EXAMPLE, churn_frame
from tests.services.tracking.mlflow_env import kept_mlflow_uris

ADA = Principal(1, "ada", "scientist", "local")
COLUMNS = ["age", "segment", "country", "monthly_fees", "complaints"]


def test_a_plain_pipeline_with_boosted_trees_is_served(
    registered: Registered,
    lake_workbench: Workbench,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, labels = churn_frame()
    frame = frame[COLUMNS]
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "categories",
                            OneHotEncoder(handle_unknown="ignore", dtype=np.float32),
                            ["segment", "country"],
                        ),
                        ("numbers", StandardScaler(), ["age", "monthly_fees", "complaints"]),
                    ]
                ),
            ),
            ("classify", HistGradientBoostingClassifier(max_iter=20)),
        ]
    ).fit(frame, labels)
    # In a notebook kernel of a project: capture is on, no project lock in this folder.
    monkeypatch.setenv("ATELIER_PROJECT", "churn")
    monkeypatch.delenv("ATELIER_URL", raising=False)
    monkeypatch.setattr(capture, "_identity", "ada")
    monkeypatch.chdir(tmp_path)
    capture.AtelierRunContext()
    registry = registered.registry()
    with kept_mlflow_uris(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri(registered.tracking_uri)
        mlflow.set_registry_uri(registered.tracking_uri)
        # Its own artifact folder: MLflow's default (./mlruns) is resolved against the folder
        # the store was first opened from, which is not this test's.
        plain = mlflow.create_experiment("plain", artifact_location=str(tmp_path / "artifacts"))
        mlflow.set_experiment(experiment_id=plain)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=frame.head(3),
                pip_requirements=["scikit-learn"],  # no slow requirement inference
            )
    registry.register(run.info.run_id, "plain-churn", by=ADA, alias="champion")

    server = ModelServer(registry, lake_workbench.warehouse, tmp_path / "journal", flush_seconds=60)
    try:
        record = {k: v for k, v in EXAMPLE.items() if k in COLUMNS}
        batch = server.predict(parse_reference("plain-churn@champion"), [record], caller="ada")
        first = batch.predictions[0]
        assert first.prediction in ("churn", "stay")
        assert first.probabilities is not None and set(first.probabilities) == {"churn", "stay"}
        expected = model.predict(frame.head(1).assign(**record))[0]
        assert first.prediction == expected
    finally:
        server.close()

    environment = registry.card("plain-churn@champion")["environment"]
    assert environment["loader"]["serialization_format"] == "cloudpickle"
    flagged = {f["package"]: f["problem"] for f in environment["flags"]}
    assert flagged["scikit-learn"] == "not-in-project-lock"  # no uv.lock here at all
