"""atelier.evaluate on real MLflow: metrics, plots and chart data for each kind of task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atelier.errors import InvalidInput, NotFound
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, Tracking, tracking

__all__ = ["tracking"]
pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def frame(rows: int = 200, classes: int = 2) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    data["noise"] = rng.normal(size=rows)
    score = data["a"] + 0.5 * data["b"] + rng.normal(0, 0.3, rows)
    bins = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    data["label"] = np.array(["low", "mid", "high"][:classes])[np.digitize(score, bins)]
    data["amount"] = 10 * data["a"] + 3 * data["b"] + rng.normal(0, 1, rows) + 50
    return data


def artifacts(run_id: str, folder: str = "evaluation") -> dict[str, Path]:
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=folder))
    return {p.name: p for p in local.iterdir()}


def test_binary_classification(tracking: Tracking) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    import atelier

    data = frame()
    features = data[["a", "b", "noise"]]
    model = LogisticRegression().fit(features, data["label"])
    with mlflow.start_run() as run:
        metrics = atelier.evaluate(model, data.drop(columns="amount"), target="label")
    assert set(metrics) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
    }
    assert 0.75 < metrics["accuracy"] <= 1
    assert 0.8 < metrics["roc_auc"] <= 1
    logged = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert logged["roc_auc"] == pytest.approx(metrics["roc_auc"])
    files = artifacts(run.info.run_id)
    for name in ("confusion_matrix", "roc_curve", "pr_curve", "calibration", "feature_importance"):
        assert files[f"{name}.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"{name}.json" in files
    roc = json.loads(files["roc_curve.json"].read_text())["curves"]
    assert [c["label"] for c in roc] == ["mid"]  # the positive class: the second of classes_
    assert roc[0]["fpr"][0] == 0 and roc[0]["tpr"][-1] == 1
    matrix = json.loads(files["confusion_matrix.json"].read_text())
    assert matrix["labels"] == ["low", "mid"]
    assert sum(map(sum, matrix["matrix"])) == len(data)
    importance = json.loads(files["feature_importance.json"].read_text())
    assert importance["scoring"] == "roc_auc"
    ranked = [f["feature"] for f in importance["features"]]
    assert ranked[0] == "a" and ranked[-1] == "noise"


def test_multiclass_uses_macro_averages_in_a_new_run(tracking: Tracking) -> None:
    import mlflow
    from sklearn.ensemble import RandomForestClassifier

    from atelier.services.tracking.evaluate import evaluate

    data = frame(240, classes=3).drop(columns="amount")
    model = RandomForestClassifier(n_estimators=20, random_state=0)
    model.fit(data[["a", "b", "noise"]], data["label"])
    metrics = evaluate(model, data, "label", importance_repeats=2, prefix="test_")
    assert {"test_accuracy", "test_f1", "test_roc_auc", "test_pr_auc", "test_log_loss"} <= set(
        metrics
    )
    run = mlflow.last_active_run()
    assert run is not None and run.data.tags["mlflow.runName"] == "evaluate"
    assert run.data.metrics["test_f1"] == pytest.approx(metrics["test_f1"])
    roc = json.loads(artifacts(run.info.run_id, "evaluation/test")["roc_curve.json"].read_text())
    assert sorted(c["label"] for c in roc["curves"]) == ["high", "low", "mid"]


def test_regression(tracking: Tracking) -> None:
    import mlflow
    from sklearn.linear_model import LinearRegression

    from atelier.services.tracking.evaluate import evaluate

    data = frame()[["a", "b", "noise", "amount"]]
    model = LinearRegression().fit(data[["a", "b", "noise"]], data["amount"])
    with mlflow.start_run() as run:
        metrics = evaluate(model, data, "amount", task="regression")
    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert metrics["r2"] > 0.9 and metrics["rmse"] < 2
    files = artifacts(run.info.run_id)
    assert {"residuals.png", "predicted_vs_actual.png", "residual_histogram.png"} <= set(files)
    residuals = json.loads(files["residuals.json"].read_text())
    assert len(residuals["residual"]) == len(data)
    assert json.loads(files["feature_importance.json"].read_text())["scoring"] == "r2"


def test_an_existing_run_by_id(tracking: Tracking) -> None:
    import mlflow
    from sklearn.linear_model import LinearRegression

    from atelier.services.tracking.evaluate import evaluate

    data = frame(50)[["a", "b", "amount"]]
    model = LinearRegression().fit(data[["a", "b"]], data["amount"])
    with mlflow.start_run() as run:
        pass
    evaluate(model, data, "amount", task="regression", run_id=run.info.run_id, importance_rows=0)
    assert "rmse" in mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    with pytest.raises(NotFound, match="no run 'f00'"):
        evaluate(model, data, "amount", task="regression", run_id="f00")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "churn"}, "target column 'churn' is not in the data (columns: a, b, label)"),
        ({"task": "ranking"}, "task 'ranking' is not one of classification, regression"),
        ({"model": "fitted"}, "cannot evaluate a str: it has no predict() method"),
        ({"model": None}, "the LogisticRegression is not fitted"),
        ({"task": "regression"}, "target column 'label' is not numeric"),
        ({"data": [1, 2]}, "data must be a pandas, polars or Arrow table, not a list"),
    ],
)
def test_bad_input_gets_a_clear_error(change: dict[str, Any], message: str) -> None:
    from sklearn.linear_model import LogisticRegression

    from atelier.services.tracking.evaluate import evaluate

    data = frame(40)[["a", "b", "label"]]
    fitted = LogisticRegression().fit(data[["a", "b"]], data["label"])
    arguments: dict[str, Any] = {"model": fitted, "data": data, "target": "label", **change}
    if change.get("model", "") is None:
        arguments["model"] = LogisticRegression()
    with pytest.raises(InvalidInput) as caught:
        evaluate(**arguments)
    assert message in str(caught.value)


def test_polars_and_missing_targets() -> None:
    import polars as pl
    from sklearn.linear_model import LogisticRegression

    from atelier.services.tracking.evaluate import evaluate

    data = pl.DataFrame({"a": [1.0, 2.0, 3.0], "label": ["x", None, "y"]})
    with pytest.raises(InvalidInput, match="target column 'label' has 1 missing value"):
        evaluate(LogisticRegression(), data, "label")
