"""atelier.compare on real MLflow: child runs, the leaderboard, the best model logged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from atelier.errors import InvalidInput
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, Tracking, tracking

__all__ = ["tracking"]
pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def churn_frame(rows: int = 240) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "fees": rng.gamma(2.0, 5.0, rows),
            "complaints": rng.poisson(1.0, rows),
            "tenure": rng.integers(1, 120, rows),
        }
    )
    risk = 0.15 * frame["fees"] + 0.8 * frame["complaints"] - 0.02 * frame["tenure"]
    frame["churned"] = (risk + rng.normal(0, 0.5, rows) > risk.median()).astype(int)
    return frame


@pytest.fixture(scope="module")
def board(tracking: Tracking) -> Any:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    import atelier

    candidates = {
        "logreg": LogisticRegression(max_iter=500),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
        "dummy": DummyClassifier(),
    }
    return atelier.compare(candidates, churn_frame(), "churned", cv=3, n_jobs=2)


def test_leaderboard_ranks_candidates_by_the_first_metric(board: Any) -> None:
    assert list(board.columns[:2]) == ["roc_auc_mean", "roc_auc_std"]
    assert set(board.index) == {"logreg", "tree", "dummy"}
    scores = board["roc_auc_mean"].tolist()
    assert scores == sorted(scores, reverse=True)
    assert board.index[-1] == "dummy"  # a constant guess ranks last
    assert board.loc["dummy", "roc_auc_mean"] == pytest.approx(0.5)
    assert (board["fit_time"] > 0).all()
    assert board.attrs["best"] == board.index[0]
    assert board.attrs["metric"] == "roc_auc"
    # log loss is reported positive: lower is better
    assert (board["log_loss_mean"] > 0).all()


def test_each_candidate_is_a_child_run_of_the_comparison(board: Any, tracking: Tracking) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    parent = client.get_run(board.attrs["run_id"])
    assert parent.data.params["candidates"] == "logreg,tree,dummy"
    leaderboard = json.loads(parent.data.tags["atelier.leaderboard"])
    assert [r["candidate"] for r in leaderboard["rows"]] == list(board.index)
    assert parent.data.tags["atelier.best"] == board.attrs["best"]
    assert "cv_roc_auc_mean" in parent.data.metrics
    for name, row in board.iterrows():
        child = client.get_run(row["run_id"])
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["atelier.candidate"] == name
        assert child.data.metrics["roc_auc_mean"] == pytest.approx(row["roc_auc_mean"])
        folds = client.get_metric_history(child.info.run_id, "roc_auc")
        assert sorted(m.step for m in folds) == [0, 1, 2]
    tree = client.get_run(board.loc["tree", "run_id"])
    assert tree.data.params["max_depth"] == "3"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "leaderboard.json" in artifacts


def test_best_candidate_is_logged_with_signature_and_example(board: Any) -> None:
    import mlflow

    model = mlflow.sklearn.load_model(board.attrs["model_uri"])
    frame = churn_frame(20)
    assert len(model.predict(frame.drop(columns="churned"))) == 20
    info = mlflow.models.get_model_info(board.attrs["model_uri"])
    assert [c["name"] for c in info.signature.inputs.to_dict()] == [
        "fees",
        "complaints",
        "tenure",
    ]
    assert info.saved_input_example_info is not None


def test_regression_is_inferred_from_the_estimators(tracking: Tracking) -> None:
    from sklearn.linear_model import LinearRegression

    import atelier

    frame = churn_frame(60).drop(columns="churned")
    frame["spend"] = 3 * frame["fees"] + 1
    board = atelier.compare({"ols": LinearRegression()}, frame, "spend", cv=2, n_jobs=1)
    assert list(board.columns[:6]) == [
        "rmse_mean",
        "rmse_std",
        "mae_mean",
        "mae_std",
        "r2_mean",
        "r2_std",
    ]
    assert board.loc["ols", "r2_mean"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "target column 'nope' is not in the data"),
        ({"candidates": {}}, "candidates must be a non-empty dict"),
        ({"candidates": {"x": object()}}, "candidate 'x' (object) has no fit()"),
        ({"metrics": ["bogus"]}, "unknown metric 'bogus'"),
        ({"cv": 1}, "cv must be a number of folds of at least 2"),
        ({"task": "ranking"}, "task 'ranking' is not one of"),
    ],
)
def test_bad_input_is_refused_before_training(kwargs: dict[str, Any], message: str) -> None:
    from sklearn.linear_model import LogisticRegression

    from atelier.services.tracking.compare import compare

    arguments: dict[str, Any] = {
        "candidates": {"logreg": LogisticRegression()},
        "data": churn_frame(30),
        "target": "churned",
        **kwargs,
    }
    with pytest.raises(InvalidInput) as caught:
        compare(**arguments)
    assert message in str(caught.value)


def test_a_failing_candidate_is_reported_and_the_others_still_rank(tracking: Tracking) -> None:
    from sklearn.linear_model import LogisticRegression

    import atelier

    frame = churn_frame(60)
    frame["segment"] = "mass"  # a string column LogisticRegression cannot take
    board = atelier.compare(
        {"raw": LogisticRegression(), "dummy": __import__("sklearn.dummy").dummy.DummyClassifier()},
        frame,
        "churned",
        cv=2,
        n_jobs=1,
    )
    assert board.attrs["best"] == "dummy"
    assert "could not convert string to float" in board.loc["raw", "error"]


def test_a_tree_model_is_logged_so_that_it_loads_back(tracking: Tracking) -> None:
    """skops refuses tree node arrays unless trusted: the best model's own types are."""
    import mlflow
    from sklearn.ensemble import RandomForestClassifier

    import atelier

    frame = churn_frame(40)
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    board = atelier.compare({"forest": forest}, frame, "churned", cv=2, n_jobs=1)
    model = mlflow.sklearn.load_model(board.attrs["model_uri"])
    assert len(model.predict(frame.drop(columns="churned"))) == 40
