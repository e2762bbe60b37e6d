"""The MLflow client surface a data scientist uses, run once against a tracking server.

Run as a script (``MLFLOW_TRACKING_URI`` and, for Atelier, ``MLFLOW_TRACKING_TOKEN`` set); prints
one JSON object: for each surface either its meaningful results (no ids, times or users) or
the error it raised. ``tests/server/pages/test_mlflow_compat.py`` runs it through Atelier's
gateway and against a plain ``mlflow server`` and compares the two.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

warnings.simplefilter("ignore")
client = MlflowClient()
results: dict[str, Any] = {}
#: Run ids for the ``mlflow`` CLI part of the test, which runs after this script.
handles: dict[str, str] = {}


def surface(function: Callable[[], Any]) -> Callable[[], Any]:
    try:
        results[function.__name__] = function()
    except Exception as exc:  # every surface reports, whatever the others do
        results[function.__name__] = {
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc()[-2000:],
        }
    return function


def dataset_inputs(run_id: str) -> list[Any]:
    inputs = client.get_run(run_id).inputs
    return list(inputs.dataset_inputs) if inputs is not None else []


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    return pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ np.array([1.5, -2.0, 0.5]) + 3.0}
    )


@surface
def tracking() -> dict[str, Any]:
    mlflow.set_experiment("compat-tracking")
    with mlflow.start_run(run_name="tracked") as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"depth": 3, "kind": "ridge"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"rmse": 1.25, "r2": 0.75})
        mlflow.set_tag("team", "churn")
        mlflow.log_text("hello through the server", "notes/hello.txt")
        mlflow.log_dict({"threshold": 0.5}, "config/settings.json")
        mlflow.log_table(pd.DataFrame({"q": ["a", "b"], "score": [0.1, 0.9]}), "tables/eval.json")
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "data.csv"), "w") as handle:
            handle.write("x,y\n1,2\n")
        mlflow.log_artifact(os.path.join(folder, "data.csv"), artifact_path="raw")
    handles["tracking_run"] = run.info.run_id
    fetched = client.get_run(run.info.run_id)
    history = client.get_metric_history(run.info.run_id, "loss")
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="notes/hello.txt"
    )
    table = mlflow.load_table("tables/eval.json", run_ids=[run.info.run_id])
    return {
        "params": fetched.data.params,
        "metrics": fetched.data.metrics,
        "loss_history": [(m.step, m.value) for m in history],
        "team_tag": fetched.data.tags.get("team"),
        "run_name": fetched.info.run_name,
        "artifacts": sorted(f.path for f in client.list_artifacts(run.info.run_id)),
        "nested": sorted(f.path for f in client.list_artifacts(run.info.run_id, "notes")),
        "text": open(downloaded).read(),
        "dict": mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config/settings.json"),
        "table": sorted(table["q"].tolist()),
        "uri_scheme": fetched.info.artifact_uri.split(":")[0],
    }


@surface
def datasets() -> dict[str, Any]:
    mlflow.set_experiment("compat-datasets")
    data = frame()
    from mlflow.data.pandas_dataset import from_pandas

    dataset = from_pandas(data, name="frame", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = dataset_inputs(run.info.run_id)
    return {
        "datasets": sorted(
            (i.dataset.name, i.dataset.digest, i.dataset.source_type, [t.value for t in i.tags])
            for i in inputs
        ),
        # Where the data came from: this script (its tags name the git commit, the user).
        "source_keys": sorted(json.loads(inputs[0].dataset.source)) if inputs else None,
    }


@surface
def evaluate() -> dict[str, Any]:
    mlflow.set_experiment("compat-evaluate")
    data = frame()
    data["prediction"] = data["y"] + np.linspace(-0.5, 0.5, len(data))
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(  # type: ignore[no-untyped-call]
            data=data.drop(columns=["a", "b", "c"]),
            targets="y",
            predictions="prediction",
            model_type="regressor",
            evaluators=["default"],
        )
    logged = client.get_run(run.info.run_id).data.metrics
    keys = ("mean_squared_error", "mean_absolute_error", "r2_score", "max_error")
    return {
        "metrics": {k: round(result.metrics[k], 9) for k in keys},
        "logged": {k: round(logged[k], 9) for k in keys},
        "inputs": len(dataset_inputs(run.info.run_id)),
    }


@surface
def autolog() -> dict[str, Any]:
    from sklearn.linear_model import Ridge

    mlflow.set_experiment("compat-autolog")
    mlflow.sklearn.autolog(log_models=False, silent=True)
    data = frame()
    try:
        with mlflow.start_run() as run:
            Ridge(alpha=0.3).fit(data[["a", "b", "c"]], data["y"])
    finally:
        mlflow.sklearn.autolog(disable=True)
    fetched = client.get_run(run.info.run_id)
    return {
        "params": {k: v for k, v in fetched.data.params.items() if k in ("alpha", "fit_intercept")},
        "metrics": sorted(fetched.data.metrics),
        "score": round(fetched.data.metrics["training_r2_score"], 9),
        "datasets": sorted(
            (i.dataset.source_type, [t.value for t in i.tags])
            for i in dataset_inputs(run.info.run_id)
        ),
    }


@surface
def logged_models() -> dict[str, Any]:
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment("compat-models")
    data = frame()
    model = LinearRegression().fit(data[["a", "b", "c"]], data["y"])
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=data[["a", "b", "c"]][:2]
        )
    handles["model_run"] = run.info.run_id
    handles["model_uri"] = info.model_uri
    loaded = mlflow.sklearn.load_model(info.model_uri)
    found = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    return {
        "uri_scheme": info.model_uri.split(":")[0],
        "prediction": [round(v, 9) for v in loaded.predict(data[["a", "b", "c"]][:3])],
        "found": sorted(m.name for m in found),
        "source_run_matches": [m.source_run_id == run.info.run_id for m in found],
        "files": sorted(
            os.listdir(mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri))
        ),
    }


@surface
def registry() -> dict[str, Any]:
    model_uri = handles["model_uri"]
    first = mlflow.register_model(model_uri, "compat-churn")
    second = mlflow.register_model(model_uri, "compat-churn")
    client.set_registered_model_alias("compat-churn", "champion", first.version)
    client.update_model_version("compat-churn", second.version, description="second try")
    client.set_registered_model_tag("compat-churn", "owner", "team")
    by_alias = client.get_model_version_by_alias("compat-churn", "champion")
    versions = client.search_model_versions("name='compat-churn'")
    models = client.search_registered_models(filter_string="name LIKE 'compat-%'")
    loaded = mlflow.pyfunc.load_model("models:/compat-churn@champion")
    data = frame()[["a", "b", "c"]][:2]
    return {
        "versions": sorted(int(v.version) for v in versions),
        "alias_version": int(by_alias.version),
        "description": client.get_model_version("compat-churn", second.version).description,
        "models": sorted(m.name for m in models),
        "tags": client.get_registered_model("compat-churn").tags.get("owner"),
        "aliases": client.get_registered_model("compat-churn").aliases,
        "prediction": [round(float(v), 9) for v in np.ravel(loaded.predict(data))],
        "sources": sorted((v.source or "").split(":")[0] for v in versions),
    }


@surface
def traces() -> dict[str, Any]:
    experiment = mlflow.set_experiment("compat-traces")

    @mlflow.trace(name="predict")
    def predict(x: float) -> float:
        with mlflow.start_span(name="inner") as span:
            span.set_inputs({"x": x})
            span.set_outputs({"double": 2 * x})
        return 2 * x + 1

    outputs = [predict(1.0), predict(2.0)]
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(
        locations=[experiment.experiment_id], return_type="list", order_by=["timestamp ASC"]
    )
    full = [mlflow.get_trace(t.info.trace_id) for t in found]
    return {
        "outputs": outputs,
        "count": len(found),
        "spans": [sorted(s.name for s in t.data.spans) for t in full],
        "inner_inputs": sorted(
            s.inputs["x"] for t in full for s in t.data.spans if s.name == "inner"
        ),
        "states": sorted(str(t.info.state) for t in found),
    }


@surface
def prompts() -> dict[str, Any]:
    first = mlflow.genai.register_prompt(
        name="compat-greeting", template="Hello {{name}}!", commit_message="first"
    )
    second = mlflow.genai.register_prompt(name="compat-greeting", template="Hi {{name}}.")
    mlflow.genai.set_prompt_alias("compat-greeting", alias="live", version=first.version)
    loaded = mlflow.genai.load_prompt("prompts:/compat-greeting/2")
    live = mlflow.genai.load_prompt("prompts:/compat-greeting@live")
    return {
        "versions": [first.version, second.version],
        "template": loaded.template,
        "formatted": live.format(name="Ada"),
        "commit": live.commit_message,
    }


@surface
def cli() -> dict[str, Any]:
    """The ``mlflow`` command line, in this process (its commands read the same variables)."""
    from click.testing import CliRunner
    from mlflow.cli import cli as mlflow_cli

    def run(*args: str) -> str:
        done = CliRunner().invoke(mlflow_cli, list(args), catch_exceptions=False)
        if done.exit_code != 0:
            raise RuntimeError(f"mlflow {' '.join(args)} exited {done.exit_code}: {done.output}")
        return str(done.output)

    experiment = client.get_experiment_by_name("compat-tracking")
    assert experiment is not None
    names = run("experiments", "search")
    runs = run("runs", "list", "--experiment-id", experiment.experiment_id)
    folder = tempfile.mkdtemp()
    run_id = handles["tracking_run"]
    path = run("artifacts", "download", "-r", run_id, "-a", "notes/hello.txt", "-d", folder)
    listed = run("artifacts", "list", "-r", run_id)
    return {
        "experiments": sorted(n for n in ("compat-tracking", "compat-traces") if n in names),
        "runs": "tracked" in runs,
        "downloaded": open(path.strip().splitlines()[-1]).read(),
        "listed": sorted(p for p in ("notes", "raw", "tables", "config") if p in listed),
    }


print(json.dumps({"results": results, "handles": handles}, default=str))
sys.stdout.flush()
