"""Check by hand that a plain PyTorch model logs and loads back in its own environment.

PyTorch's wheels from PyPI pull several GB of CUDA libraries on Linux, too much for the test
suite (XGBoost's path is a test: tests/services/serving/test_plain_flavours.py). This script
does for PyTorch what that test does, in a throwaway workspace:

1. a project whose environment has ``torch`` (``atelier env add``) trains a small network and
   logs it with the plain ``mlflow.pytorch.log_model(model, name="model", input_example=x)``
   (MLflow's default format, ``pt2``: ``torch.export``, no pickle);
2. the model card's environment: flavour, serialization format, lock, flags;
3. a job "in the environment of the model" (``model_env``) loads it back with
   ``mlflow.pyfunc.load_model`` and predicts, answering what the network answered in training.

Run: ``python -m bench.plain_flavours [TORCH_REQUIREMENT]`` (default ``torch==2.13.0``). It
prints what it checked and exits 1 when something differs; results are not appended to
bench/RESULTS.md (this is a check, not a measurement).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = """
import json, sys
import mlflow
import numpy as np
import torch

uri, artifacts = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
mlflow.set_tracking_uri(uri)
experiment = mlflow.MlflowClient().create_experiment("torch", artifact_location=artifacts)
with mlflow.start_run(experiment_id=experiment):
    mlflow.pytorch.log_model(net, name="model", input_example=x, registered_model_name="net")
with torch.no_grad():
    print("EXPECTED", json.dumps(net(torch.from_numpy(x)).numpy().ravel().tolist()))
print("INPUT", json.dumps(x.tolist()))
"""

SCORE = """
import json, os
import mlflow.pyfunc
import numpy as np

model = mlflow.pyfunc.load_model(os.environ["ATELIER_MODEL_PATH"])
x = np.array(json.loads(open("input.json").read()), dtype="float32")
print("SCORES", json.dumps(np.asarray(model.predict(x)).ravel().tolist()))
"""


def main(requirement: str) -> int:
    from atelier.config import Workspace, init_workspace
    from atelier.services.auth import Principal
    from atelier.services.tracking import TrackingStore
    from atelier.services.tracking.references import parse_reference
    from atelier.services.workbench import Workbench

    folder = Path(tempfile.mkdtemp(prefix="atelier-flavours-"))
    root, _ = init_workspace(folder / "ws")
    workspace = Workspace.open(root, environ={})
    store = TrackingStore.for_workspace(workspace)
    store.prepare()
    wb = Workbench(workspace)
    problems: list[str] = []
    try:
        user = wb.users.ensure("ada", "scientist")
        ada = Principal(user.id, user.name, user.role, "local")
        project = wb.projects.create("nets", ada)
        started = time.perf_counter()
        wb.projects.env.add("nets", [requirement], ada)
        print(f"project environment with {requirement}: {time.perf_counter() - started:.0f} s")
        (project.path / "train.py").write_text(TRAIN)
        clean = {
            k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_", "UV_"))
        }
        trained = subprocess.run(
            [str(project.python), "train.py", store.backend_uri, str(store.artifacts_dir / "t")],
            cwd=project.path,
            env={**clean, "ATELIER_PROJECT": "nets"},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if trained.returncode != 0:
            print(trained.stderr[-3000:])
            return 1
        expected = json.loads(trained.stdout.split("EXPECTED ", 1)[1].splitlines()[0])
        given = trained.stdout.split("INPUT ", 1)[1].splitlines()[0]

        card = wb.models.card("net")
        loader = card["environment"]["loader"]
        files = sorted(p.name for p in Path(wb.models.resolve("net").path).rglob("*"))
        print("flavour", loader["flavor"], "format", loader["serialization_format"])
        print("files", files)
        print("flags", [(f["module"], f["problem"]) for f in card["environment"]["flags"]])
        # MLflow's default for PyTorch: torch.export's archive, no pickle (the flavour does not
        # record the format; the file says it).
        if loader["flavor"] != "pytorch" or "model.pt2" not in files:
            problems.append(f"unexpected loader {loader} or files {files}")
        if any(f["problem"] == "missing" for f in card["environment"]["flags"]):
            problems.append("the lock misses a package the model imports")

        started = time.perf_counter()
        while True:  # the model's environment, built from its lock (once)
            runtime = wb.serving.runtime(parse_reference("net"), start=True)
            if runtime["state"] in ("ready", "failed"):
                break
            time.sleep(1)
        print(f"model environment: {runtime['state']}, {time.perf_counter() - started:.0f} s")
        if runtime["state"] != "ready":
            problems.append(f"the model's environment failed: {runtime.get('message')}")
            return 1
        started = time.perf_counter()
        (folder / "score.py").write_text(SCORE)
        (folder / "input.json").write_text(given)
        job = wb.jobs.submit(["score.py"], principal=wb.owner(), cwd=folder, model_env="net")
        output = "".join(wb.jobs.follow(job.id))
        print(f"job in the model's environment: {time.perf_counter() - started:.0f} s")
        if wb.jobs.get(job.id).state != "succeeded" or "SCORES " not in output:
            problems.append(f"the job failed: {output[-2000:]}")
        else:
            scores = json.loads(output.split("SCORES ", 1)[1].splitlines()[0])
            close = all(abs(a - b) < 1e-5 for a, b in zip(scores, expected, strict=True))
            print("scores", scores, "expected", expected)
            if not close:
                problems.append("the loaded model answers differently")
    finally:
        wb.close()
    for problem in problems:
        print("PROBLEM:", problem)
    print("OK" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "torch==2.13.0"))
