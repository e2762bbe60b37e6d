"""A churn model like the demo's, trained and registered in a real MLflow registry."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

#: Every widget type of a generated app: numbers, categories, a boolean, a date and text.
EXAMPLE = {
    "age": 41,
    "segment": "mass",
    "country": "GB",
    "monthly_fees": 12.5,
    "complaints": 2,
    "has_credit_card": True,
    "signup_date": "2019-03-01",
    "note": "called about fees",
}


def churn_frame(rows: int = 400, seed: int = 7) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    segments = np.array(["student", "mass", "affluent", "premier"])
    countries = np.array(["GB", "DE", "FR", "NL"])
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype("int64"),
            "segment": segments[rng.integers(0, 4, rows)],
            "country": countries[rng.integers(0, 4, rows)],
            "monthly_fees": rng.gamma(2.0, 5.0, rows).round(2),
            "complaints": rng.poisson(1.0, rows).astype("int64"),
            "has_credit_card": rng.random(rows) < 0.4,
            "signup_date": pd.to_datetime("2015-01-01")
            + pd.to_timedelta(rng.integers(0, 3000, rows), unit="D"),
            "note": rng.choice(["", "called about fees", "moved abroad", "happy"], rows),
        }
    )
    risk = 0.08 * frame["monthly_fees"] + 0.6 * frame["complaints"] - 0.02 * frame["age"]
    labels = np.where(risk + rng.normal(0, 0.5, rows) > 0.6, "churn", "stay")
    return frame, labels


def register_churn_model(
    tracking_uri: str, artifacts: Path, *, name: str = "churn", alias: str = "champion"
) -> int:
    """Train, log (signature + input example) and register ``name``; point ``alias`` at it."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from atelier.services.tracking.registry import mlflow_client
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    frame, labels = churn_frame()
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "categories",
                            OneHotEncoder(handle_unknown="ignore"),
                            ["segment", "country"],
                        ),
                        ("numbers", StandardScaler(), ["age", "monthly_fees", "complaints"]),
                        ("flags", "passthrough", ["has_credit_card"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    )
    model.fit(frame, labels)
    client = mlflow_client(tracking_uri)
    experiment = client.get_experiment_by_name("churn")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment("churn", artifact_location=str(artifacts))
    )
    # set_registry_uri(None) would leave MLFLOW_REGISTRY_URI pointing at this store.
    with kept_mlflow_uris(), warnings.catch_warnings():
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        # MLflow 3.17 on pandas 3 warns about its own code (and hints about integer columns).
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_metric("accuracy", float(model.score(frame, labels)))
            mlflow.log_param("model", "logistic regression")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, labels),
                input_example=frame.head(3),
                registered_model_name=name,
                pip_requirements=["scikit-learn"],  # no slow requirement inference
            )
    version = int(info.registered_model_version)
    client.set_registered_model_alias(name, alias, str(version))
    client.update_model_version(name, str(version), description="Who will leave next month.")
    return version


def workspace_with_model(folder: Path) -> Any:
    """A new workspace (SQLite) whose MLflow registry holds ``churn@champion``."""
    from atelier.config import Workspace, init_workspace
    from atelier.services.tracking import TrackingStore

    root, _ = init_workspace(folder)
    workspace = Workspace.open(root, environ={})
    store = TrackingStore.for_workspace(workspace)
    store.prepare()
    register_churn_model(store.backend_uri, store.artifacts_dir / "churn")
    return workspace


def add_accounts(workbench: Any) -> dict[str, dict[str, str]]:
    """admin1, scientist1, viewer1 and viewer2 with tokens: role/user → auth headers."""
    headers = {}
    for name, role in (
        ("admin1", "admin"),
        ("scientist1", "scientist"),
        ("viewer1", "viewer"),
        ("viewer2", "viewer"),
    ):
        workbench.users.create(name, role, "correct horse battery")
        token = workbench.tokens.create(name, "test", 1)[1]
        headers[name] = {"Authorization": f"Bearer {token}"}
    return headers
