"""An ordinary XGBoost model, logged with the plain ``mlflow.xgboost.log_model`` call in a
project whose environment has ``xgboost-cpu`` (Atelier's does not): its files are XGBoost's own
format (no pickle), its captured lock pins what it imports (nothing flagged), and it loads back
and predicts through the API in a worker built from that lock, answering what XGBoost answered
in the project. (LightGBM's end to end path, app and image included, is in test_workers.py.)"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atelier.config import init_workspace
from atelier.server.app import create_app
from atelier.services.tracking.references import parse_reference
from tests.services.serving.test_workers import Served, train_in_project, wait_built

TRAIN = """
import sys
import mlflow
import numpy as np
import pandas as pd
import xgboost
from mlflow.models import infer_signature

uri, artifacts = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(1)
frame = pd.DataFrame({"fees": rng.normal(size=200), "tenure": rng.normal(30, 10, 200)})
labels = (frame["fees"] + rng.normal(0, 0.3, 200) > 0).astype(int)
model = xgboost.XGBClassifier(n_estimators=15, max_depth=3).fit(frame, labels)
mlflow.set_tracking_uri(uri)
experiment = mlflow.MlflowClient().create_experiment("boost", artifact_location=artifacts)
with mlflow.start_run(experiment_id=experiment):
    mlflow.xgboost.log_model(
        model,
        name="model",
        signature=infer_signature(frame, labels),
        input_example=frame.head(2),
        registered_model_name="boost",
    )
asked = pd.DataFrame({"fees": [1.5, -2.0], "tenure": [12.0, 40.0]})
print("EXPECTED", json.dumps(model.predict_proba(asked)[:, 1].tolist()))
""".replace("import sys\n", "import json\nimport sys\n", 1)

RECORDS = [{"fees": 1.5, "tenure": 12.0}, {"fees": -2.0, "tenure": 40.0}]


@pytest.fixture(scope="module")
def boosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("flavours")
    root, _ = init_workspace(folder / "ws")
    trained = train_in_project(root, "boost", "xgboost-cpu", TRAIN)
    wb, headers = trained.wb, trained.headers
    expected = json.loads(trained.stdout.split("EXPECTED ", 1)[1].splitlines()[0])
    model_dir = Path(wb.models.resolve("boost").path)
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        yield Served(wb, client, headers, model_dir, expected, folder)
    wb.close()


def test_a_plain_xgboost_model_logs_with_its_lock_and_predicts_in_its_environment(
    boosted: Served,
) -> None:
    assert "xgboost" not in sys.modules
    files = sorted(p.name for p in boosted.model_dir.iterdir())
    assert "model.ubj" in files  # XGBoost's own format: nothing to unpickle
    assert not [name for name in files if name.endswith((".pkl", ".pickle", ".cloudpickle"))]

    card = boosted.get("/api/v1/models/boost/card").json()
    environment = card["environment"]
    assert environment["loader"]["flavor"] == "xgboost"
    assert environment["loader"]["serialization_format"] == "ubj"
    lock = (boosted.model_dir / "requirements.lock").read_text()
    assert "xgboost-cpu==" in lock.replace("_", "-").lower()
    # Nothing it imports is missing from its lock; xgboost came from the project's own lock
    # (what came from Atelier's environment, as mlflow, is pinned too and said so).
    flags = {flag["module"]: flag["problem"] for flag in environment["flags"]}
    assert "missing" not in flags.values() and "xgboost" not in flags, flags

    runtime = boosted.wb.serving.runtime(parse_reference("boost"))
    assert runtime["runs_in"] == "own-environment"
    boosted.get("/api/v1/models/boost/serving")  # starts the build
    assert wait_built(boosted, "boost")["state"] == "ready"
    batch = boosted.post("/api/v1/models/boost/predict", RECORDS)
    assert batch.status_code == 200, batch.text
    answers = batch.json()["predictions"]
    assert [a["prediction"] for a in answers] == [1, 0]
    assert [a["probabilities"]["1"] for a in answers] == pytest.approx(boosted.expected)
    wrong = boosted.post("/api/v1/models/boost/predict", {"fees": "high", "tenure": 3.0})
    assert wrong.status_code == 422 and "fees" in wrong.json()["detail"]
    assert "xgboost" not in sys.modules
