"""MLflow artifacts in the ``[storage]`` bucket (moto's S3 server) behind a real ``atelier up``:
a client logs a file and a model through Atelier's ``/mlflow`` and gets them back, with no
credentials and no address of the bucket; the objects are in the bucket, not on local disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from atelier.config import Workspace
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import new_workspace, start_server
from tests.s3_server import S3Server
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]

CLIENT = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import mlflow, mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input["x"] * 2

    mlflow.set_experiment("s3")
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("kept in the bucket")
    with mlflow.start_run() as run:
        mlflow.log_artifact(os.path.join(folder, "notes.txt"), "docs")
        mlflow.pyfunc.log_model(name="model", python_model=Doubler(), pip_requirements=[])
    back = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="docs/notes.txt", dst_path=tempfile.mkdtemp()
    )
    import pandas as pd
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    print(json.dumps({
        "run_id": run.info.run_id,
        "artifact_uri": run.info.artifact_uri,
        "text": open(back).read(),
        "predictions": [int(v) for v in model.predict(pd.DataFrame({"x": [1, 2, 3]}))],
    }))
    """
)


@pytest.mark.timeout(600)  # MLflow's server starts here; slow on a busy machine
def test_artifacts_and_models_go_to_the_bucket_through_atelier(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_server.new_store(prefix="ws")
    credentials = s3_server.environment(store)
    root = new_workspace(tmp_path / "ws")
    # The bucket in the file, the credentials in the server's environment only.
    with (root / "atelier.toml").open("a") as config:
        config.write(
            f'\n[storage]\nbucket = "{store.bucket}"\nprefix = "ws"\n'
            f'endpoint = "{store.endpoint}"\nurl_style = "path"\n'
        )
    workbench = Workbench(Workspace.open(root, environ=credentials))
    workbench.users.create("ada", "scientist", "correct horse battery")
    token = workbench.tokens.create("ada", "test", 1)[1]
    with monkeypatch.context() as patch:
        for key, value in credentials.items():
            patch.setenv(key, value)
        server = start_server(workbench.workspace)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_", "AWS_"))
    }
    environ.update(
        {
            "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
            "MLFLOW_TRACKING_TOKEN": token,
            "PYTHONWARNINGS": "ignore",
        }
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        # The registry (serving, model cards, images) reads the files from the bucket too.
        ada = Principal(workbench.users.get("ada").id, "ada", "scientist", "local")
        workbench.models.register(result["run_id"], "doubler", by=ada, alias="champion")
        model = workbench.models.load("doubler@champion")
        served = [int(v) for v in model.predict(pd.DataFrame({"x": [5]}))]
        card = workbench.models.card("doubler/1", by=ada)
    finally:
        server.stop()
        workbench.close()

    # The client saw Atelier's proxy only, never the bucket.
    assert result["artifact_uri"].startswith("mlflow-artifacts:")
    assert result["text"] == "kept in the bucket"
    assert result["predictions"] == [2, 4, 6]
    assert served == [10]
    assert "python_function" in card["flavors"]  # read from the bucket's MLmodel
    keys = store.keys_under(store.url("mlflow"))
    assert any(k.endswith("/artifacts/docs/notes.txt") for k in keys)
    assert any(k.endswith("/MLmodel") for k in keys)
    local = workbench.tracking_server.store.artifacts_dir
    assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()]
