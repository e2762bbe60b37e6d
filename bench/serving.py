"""Single-row predictions of a scikit-learn model with logging on: Atelier versus
``mlflow models serve`` of the same model on the same machine, measured side by side.

Goal: in-process p50 <= 2 ms and p99 <= 10 ms, and HTTP throughput at least 2x MLflow's.
Atelier is measured twice: the in-process service call (validation, prediction, journaling
of the log record; what a request spends inside the server) and over HTTP against a real
``atelier up`` with a bearer token. MLflow's scoring server gets the same model files and
the same record as ``dataframe_records``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench._process import free_port, stop_group

SEQUENTIAL = 2000
CONCURRENT_CLIENTS = 8
CONCURRENT_REQUESTS = 4000
RECORD = {
    "age": 41,
    "segment": "mass",
    "country": "GB",
    "monthly_fees": 12.5,
    "complaints": 2,
    "has_credit_card": True,
}


def _model(tracking_uri: str, artifacts: Path) -> Any:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from atelier.services.tracking.registry import mlflow_client

    rng = np.random.default_rng(1)
    rows = 2000
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype("int64"),
            "segment": rng.choice(["student", "mass", "affluent", "premier"], rows),
            "country": rng.choice(["GB", "DE", "FR", "NL"], rows),
            "monthly_fees": rng.gamma(2.0, 5.0, rows),
            "complaints": rng.poisson(1.0, rows).astype("int64"),
            "has_credit_card": rng.random(rows) < 0.4,
        }
    )
    labels = np.where(frame["monthly_fees"] * 0.1 + frame["complaints"] > 1.5, "churn", "stay")
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("c", OneHotEncoder(handle_unknown="ignore"), ["segment", "country"]),
                        ("n", StandardScaler(), ["age", "monthly_fees", "complaints"]),
                        ("b", "passthrough", ["has_credit_card"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, labels)
    client = mlflow_client(tracking_uri)
    experiment = client.create_experiment("bench", artifact_location=str(artifacts))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, labels),
                input_example=frame.head(2),
                registered_model_name="churn",
                pip_requirements=["scikit-learn"],
            )
    client.set_registered_model_alias("churn", "champion", str(info.registered_model_version))
    return info


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def _latencies(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(50):  # warm up
        call()
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _throughput(make_call: Callable[[], Callable[[], None]]) -> float:
    per_client = CONCURRENT_REQUESTS // CONCURRENT_CLIENTS
    calls = [make_call() for _ in range(CONCURRENT_CLIENTS)]
    for call in calls:
        call()

    def work(call: Callable[[], None]) -> None:
        for _ in range(per_client):
            call()

    threads = [threading.Thread(target=work, args=(call,)) for call in calls]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_client * CONCURRENT_CLIENTS / (time.perf_counter() - start)


def _http_call(url: str, body: Any, headers: dict[str, str]) -> Callable[[], None]:
    client = httpx.Client(headers=headers, timeout=60)

    def call() -> None:
        response = client.post(url, json=body)
        response.raise_for_status()

    return call


def _row(name: str, timings: list[float], rps: float | None) -> str:
    q = statistics.quantiles(timings, n=100)
    rate = f"{rps:,.0f}" if rps is not None else "-"
    return f"| {name} | {statistics.median(timings):.2f} | {q[98]:.2f} | {rate} |"


def run() -> str:
    from atelier.config import Workspace, init_workspace
    from atelier.services.tracking import TrackingStore
    from atelier.services.tracking.references import parse_reference
    from atelier.services.workbench import Workbench

    with tempfile.TemporaryDirectory() as folder:
        root, _ = init_workspace(Path(folder) / "ws")
        workspace = Workspace.open(root, environ={})
        store = TrackingStore.for_workspace(workspace)
        store.prepare()
        _model(store.backend_uri, store.artifacts_dir / "bench")
        wb = Workbench(workspace)
        try:
            ref = parse_reference("churn@champion")
            model = wb.serving.model(ref)
            inproc = _latencies(
                lambda: wb.serving.predict(ref, [RECORD], caller="bench"), SEQUENTIAL
            )
            owner = wb.owner()
            token = wb.tokens.create(owner.name, "bench", 1)[1]
            model_path = str(model.info.path)
        finally:
            wb.close()

        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_"))}
        # `mlflow models serve` runs `uvicorn` from PATH: the one of this environment.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        port = free_port()
        atelier = subprocess.Popen(
            [sys.executable, "-m", "atelier", "up", "--port", str(port)],
            env={**env, "ATELIER_WORKSPACE": str(root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        mlflow_port = free_port()
        mlflow = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_path,
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(f"{base}/health", atelier)
            _wait(f"http://127.0.0.1:{mlflow_port}/ping", mlflow)
            headers = {"Authorization": f"Bearer {token}"}
            atelier_url = f"{base}/api/v1/models/churn/predict?alias=champion"
            mlflow_url = f"http://127.0.0.1:{mlflow_port}/invocations"
            mlflow_body = {"dataframe_records": [RECORD]}
            a_http = _latencies(_http_call(atelier_url, RECORD, headers), SEQUENTIAL)
            m_http = _latencies(_http_call(mlflow_url, mlflow_body, {}), SEQUENTIAL)
            a_rps = _throughput(lambda: _http_call(atelier_url, RECORD, headers))
            m_rps = _throughput(lambda: _http_call(mlflow_url, mlflow_body, {}))
        finally:
            stop_group(atelier, 30)
            stop_group(mlflow, 30)

    p50, p99 = statistics.median(inproc), statistics.quantiles(inproc, n=100)[98]
    ratio = a_rps / m_rps
    met = "met" if p50 <= 2 and p99 <= 10 and ratio >= 2 else "NOT met"
    return "\n".join(
        [
            "## Serving: single-row predictions, logging on, vs `mlflow models serve`",
            "",
            f"scikit-learn pipeline (one-hot + scaler + logistic regression, 6 inputs). Latency "
            f"over {SEQUENTIAL:,} sequential requests after a warm-up; throughput with "
            f"{CONCURRENT_CLIENTS} concurrent keep-alive clients, {CONCURRENT_REQUESTS:,} "
            "requests. Every Atelier prediction is validated against the signature and logged "
            "(journal, shipped to `predictions.churn` in the background).",
            "",
            "| | p50 ms | p99 ms | predictions/s |",
            "|---|---|---|---|",
            _row("Atelier in-process (service call)", inproc, None),
            _row("Atelier over HTTP (bearer token)", a_http, a_rps),
            _row("`mlflow models serve` over HTTP", m_http, m_rps),
            "",
            f"Throughput ratio Atelier / MLflow: {ratio:.1f}x. Goal (in-process p50 <= 2 ms, "
            f"p99 <= 10 ms, throughput >= 2x MLflow's): {met}.",
        ]
    )


if __name__ == "__main__":
    print(run())
