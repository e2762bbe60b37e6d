"""A model trained on people's e-mail addresses and names, registered in a real MLflow registry.

Its run carries the ``atelier.pii`` tag that training writes for tagged columns: here
``account``, an IBAN in the table it was trained on, which neither the field's name nor the
example's values (account numbers of the bank's own) give away to the classifier.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
ACCOUNT = "GB82WEST12345698765432"
#: One request: the e-mail and name are found by the classifier, ``account`` by the tag.
RECORD = {
    "email": EMAIL,
    "full_name": NAME,
    "account": ACCOUNT,
    "city": "Leeds",
    "visits": 7,
    "note": "asked about fees",
}
RECORDED = {"account": "iban"}


def contacts_frame(rows: int = 120, seed: int = 3) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    given = np.array(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John"])
    family = np.array(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen"])
    first = given[rng.integers(0, len(given), rows)]
    last = family[rng.integers(0, len(family), rows)]
    frame = pd.DataFrame(
        {
            "email": [
                f"{f.lower()}.{s.lower()}{i}@example.org"
                for i, (f, s) in enumerate(zip(first, last, strict=True))
            ],
            "full_name": [f"{f} {s}" for f, s in zip(first, last, strict=True)],
            "account": [f"ACC{i:06d}" for i in range(rows)],
            "city": rng.choice(["Leeds", "York", "Bath", "Derby"], rows),
            "visits": rng.integers(0, 20, rows).astype("int64"),
            "note": rng.choice(["", "asked about fees", "happy"], rows),
        }
    )
    frame.loc[0, ["email", "full_name"]] = [EMAIL, NAME]
    labels = np.where(frame["visits"] + rng.normal(0, 3, rows) > 9, "respond", "ignore")
    return frame, labels


def register_contacts_model(
    tracking_uri: str, artifacts: Path, *, name: str = "contacts", alias: str = "champion"
) -> int:
    """Train on visits and city (the personal columns are inputs the model ignores, as a
    careless pipeline would take them), log with signature, example and the ``atelier.pii``
    run tag, register ``name`` and point ``alias`` at it."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from atelier.services.tracking.registry import mlflow_client
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    frame, labels = contacts_frame()
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                        ("numbers", "passthrough", ["visits"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    )
    model.fit(frame, labels)
    client = mlflow_client(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(name, artifact_location=str(artifacts))
    )
    with kept_mlflow_uris(), warnings.catch_warnings():
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.set_tag("atelier.pii", json.dumps(RECORDED))
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, labels),
                input_example=frame.head(3),
                registered_model_name=name,
                pip_requirements=["scikit-learn"],
            )
    version = int(info.registered_model_version)
    client.set_registered_model_alias(name, alias, str(version))
    return version


def workspace_with_contacts(folder: Path) -> Any:
    """A new workspace (SQLite) whose MLflow registry holds ``contacts@champion``."""
    from atelier.config import Workspace, init_workspace
    from atelier.services.tracking import TrackingStore

    root, _ = init_workspace(folder)
    workspace = Workspace.open(root, environ={})
    store = TrackingStore.for_workspace(workspace)
    store.prepare()
    register_contacts_model(store.backend_uri, store.artifacts_dir / "contacts")
    return workspace
