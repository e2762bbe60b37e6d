"""Experiment tracking: the cost of Atelier's run capture, and of logging through its proxy.

Capture: the same scikit-learn training script (a random forest on synthetic data, about 30 s
here) started as a job would be, against the same ``atelier up`` server, with run capture on
(``ATELIER_PROJECT`` set: user, project, profile, git commit and diff, the project's lock and
the interpreter's packages are recorded at ``start_run``) and off; whole-process wall time,
interleaved runs. Goal: under 5% overhead.

Metric logging: 10,000 metric points through Atelier's ``/mlflow`` proxy (bearer token) versus
straight to a plain ``mlflow server`` on a loopback port, with ``MlflowClient.log_batch`` (1,000
points a batch) and with single ``log_metric`` calls. Atelier's MLflow is a private child on a
Unix socket that only the proxy reaches, so the baseline is a second server configured like it:
one uvicorn worker, no job runner, the same backend store (the same SQLite file) and artifact
destination, the same ``/mlflow`` prefix. Both sides are timed in alternating blocks; single
calls are timed on a sample and projected to 10,000 to keep the benchmark within minutes.
Goal: at most 1.2x.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._process import free_port, stop_group

CAPTURE_RUNS = 2
TREES = 380  # a run of about 30 s on this machine
POINTS = 10_000
BATCH = 1_000  # MLflow's limit of metrics per log_batch request
BATCH_ROUNDS = 3
#: Single ``log_metric`` calls timed per side (in alternating blocks), projected to POINTS:
#: 10,000 calls per side would take several minutes through the proxy alone.
SINGLE_CALLS = 2_000
SINGLE_BLOCK = 250
REPO = Path(__file__).resolve().parents[1]

SCRIPT = f"""\
import json, time
start = time.perf_counter()
import mlflow
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

X, y = make_classification(n_samples=20_000, n_features=40, n_informative=20, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
mlflow.set_experiment("capture-bench")
before = time.perf_counter()
with mlflow.start_run() as run:
    started = time.perf_counter()
    params = dict(n_estimators={TREES}, n_jobs=1, random_state=0)
    mlflow.log_params(params)
    model = RandomForestClassifier(**params).fit(X_train, y_train)
    fitted = time.perf_counter()
    mlflow.log_metric("accuracy", model.score(X_test, y_test))
captured = "atelier.capture" in mlflow.get_run(run.info.run_id).data.tags
print(json.dumps({{"start_run": started - before, "fit": fitted - started,
                   "captured": captured}}))
"""


def _wait(url: str, process: subprocess.Popen[bytes], headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, headers=headers, timeout=5).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in 180 s")


def _project(folder: Path) -> Path:
    """A uv project under git with a commit and an uncommitted change, as a job would run in."""
    project = folder / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "bench"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["scikit-learn", "mlflow"]\n'
    )
    shutil.copy(REPO / "uv.lock", project / "uv.lock")  # a lock of realistic size
    (project / "train.py").write_text(SCRIPT)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "train"], cwd=project, check=True)
    (project / "train.py").write_text(SCRIPT + "# tuned\n")
    return project


def _train(project: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "train.py"], cwd=project, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"train.py exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return elapsed, json.loads(result.stdout.strip().splitlines()[-1])


def _capture(project: Path, env: dict[str, str]) -> list[str]:
    plain: list[tuple[float, dict[str, Any]]] = []
    captured: list[tuple[float, dict[str, Any]]] = []
    on = {**env, "ATELIER_PROJECT": "bench", "ATELIER_PROFILE": "small"}
    for pair in range(CAPTURE_RUNS):  # off-on, on-off, ...: drift hits both alike
        for capture in (False, True) if pair % 2 == 0 else (True, False):
            (captured if capture else plain).append(_train(project, on if capture else env))
    if any(r["captured"] for _, r in plain) or not all(r["captured"] for _, r in captured):
        raise RuntimeError("run capture was not on exactly in the runs meant to capture")

    def row(name: str, runs: list[tuple[float, dict[str, Any]]]) -> tuple[str, float, float]:
        total = statistics.mean(t for t, _ in runs)
        each = ", ".join(f"{t:.1f}" for t, _ in runs)
        start = statistics.mean(r["start_run"] for _, r in runs)
        fit = statistics.mean(r["fit"] for _, r in runs)
        return f"| {name} | {each} | {total:.2f} | {start:.3f} | {fit:.2f} |", total, start

    plain_row, plain_mean, plain_start = row("capture off", plain)
    captured_row, captured_mean, captured_start = row(
        "capture on (`ATELIER_PROJECT` set)", captured
    )
    overhead = (captured_mean / plain_mean - 1) * 100
    start_delta = captured_start - plain_start
    return [
        "### Run capture on a 30-second training script",
        "",
        f"`RandomForestClassifier(n_estimators={TREES})` on 15,000 x 40 synthetic rows, one "
        "MLflow run (params, one metric) logged to the `atelier up` server through its proxy; "
        "a uv project under git with a `uv.lock` and an uncommitted change. Whole-process "
        f"wall time, {CAPTURE_RUNS} runs each, interleaved (off-on, on-off); means. "
        "`start_run` s: the time `mlflow.start_run` took inside the script (where capture "
        "gathers and logs what it records).",
        "",
        "| | runs s | mean s | `start_run` s | fit s |",
        "|---|---|---|---|---|",
        plain_row,
        captured_row,
        "",
        f"Overhead of capture: **{overhead:+.1f}%** ({captured_mean - plain_mean:+.2f} s; "
        f"goal under 5%: {'met' if overhead < 5 else 'NOT met'}). Of that, `start_run` took "
        f"{start_delta:+.2f} s ({start_delta / plain_mean * 100:+.1f}% of the run); the rest falls "
        "outside it (process start and exit, the fit, run-to-run variation).",
    ]


def _points(key: str, first: int, count: int) -> list[Any]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(key, i * 0.001, now + i, i) for i in range(first, first + count)]


def _log_batches(client: Any, run_id: str, batches: list[list[Any]]) -> float:
    start = time.perf_counter()
    for metrics in batches:
        client.log_batch(run_id, metrics=metrics)
    return time.perf_counter() - start


def _log_singles(client: Any, run_id: str, first: int) -> float:
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for i in range(first, first + SINGLE_BLOCK):
        client.log_metric(run_id, "single", i * 0.001, timestamp=now + i, step=i)
    return time.perf_counter() - start


def _logging(atelier_uri: str, token: str, direct_uri: str) -> list[str]:
    # The token goes to both servers (the plain one ignores it): the same requests either way.
    previous = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    try:
        return _log_points(atelier_uri, direct_uri)
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = previous


def _log_points(atelier_uri: str, direct_uri: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    sides = {"proxy": MlflowClient(atelier_uri), "direct": MlflowClient(direct_uri)}
    experiment = sides["proxy"].create_experiment(f"logging-bench-{time.time_ns()}")
    runs = {name: c.create_run(experiment).info.run_id for name, c in sides.items()}
    for name, c in sides.items():  # warm up connections and both request paths
        for i in range(20):
            c.log_metric(runs[name], "warm", i, step=i)
        c.log_batch(runs[name], metrics=_points("warm", 100, BATCH))

    batch: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(BATCH_ROUNDS):
        batches = [_points(f"batch{round_}", first, BATCH) for first in range(0, POINTS, BATCH)]
        for name in list(sides)[:: 1 if round_ % 2 == 0 else -1]:
            batch[name].append(_log_batches(sides[name], runs[name], batches))

    single: dict[str, float] = {name: 0.0 for name in sides}
    for block, first in enumerate(range(0, SINGLE_CALLS, SINGLE_BLOCK)):
        for name in list(sides)[:: 1 if block % 2 == 0 else -1]:
            single[name] += _log_singles(sides[name], runs[name], first)
    for name, c in sides.items():
        history = c.get_metric_history(runs[name], "single")
        if len(history) != SINGLE_CALLS:
            raise RuntimeError(f"{name}: {len(history)} of {SINGLE_CALLS} points were stored")

    b_proxy, b_direct = statistics.median(batch["proxy"]), statistics.median(batch["direct"])
    b_ratio, s_ratio = b_proxy / b_direct, single["proxy"] / single["direct"]
    per_call = {name: seconds / SINGLE_CALLS for name, seconds in single.items()}

    def goal(ratio: float) -> str:
        return f"<= 1.2x ({'met' if ratio <= 1.2 else 'NOT met'})"

    return [
        "### 10,000 metric points: Atelier's proxy vs straight to MLflow",
        "",
        "`MlflowClient` against `atelier up` at `/mlflow` with a bearer token "
        "(`MLFLOW_TRACKING_TOKEN`) and against a plain `mlflow server --workers 1` (job "
        "execution off, as in Atelier's) on a loopback port with the same backend store (the "
        "same SQLite file) and artifact destination as Atelier's own MLflow. Batches: 10 "
        "`log_batch` calls of 1,000 points, "
        f"median of {BATCH_ROUNDS} alternating rounds. Single calls: {SINGLE_CALLS:,} "
        f"`log_metric` calls a side, timed in alternating blocks of {SINGLE_BLOCK}, and the "
        "time for 10,000 projected from them (ms per call x 10,000).",
        "",
        "| 10,000 points as | straight to MLflow s | through Atelier s | points/s via Atelier "
        "| ratio | goal |",
        "|---|---|---|---|---|---|",
        f"| `log_batch` x {POINTS // BATCH} | {b_direct:.2f} | {b_proxy:.2f} | "
        f"{POINTS / b_proxy:,.0f} | {b_ratio:.2f}x | {goal(b_ratio)} |",
        f"| `log_metric` x {POINTS:,} (projected) | {per_call['direct'] * POINTS:.1f} | "
        f"{per_call['proxy'] * POINTS:.1f} | {1 / per_call['proxy']:,.0f} | {s_ratio:.2f}x | "
        f"{goal(s_ratio)} |",
        "",
        f"Per `log_metric` call: {per_call['direct'] * 1000:.1f} ms straight to MLflow, "
        f"{per_call['proxy'] * 1000:.1f} ms through Atelier.",
    ]


def run() -> str:
    from atelier.config import Workspace, init_workspace
    from atelier.services.tracking import TrackingStore
    from atelier.services.workbench import Workbench

    with tempfile.TemporaryDirectory(prefix="tb", dir="/tmp") as folder:
        here = Path(folder)
        root, _ = init_workspace(here / "ws")
        workspace = Workspace.open(root, environ={})
        store = TrackingStore.for_workspace(workspace)
        wb = Workbench(workspace)
        try:
            token = wb.tokens.create(wb.owner().name, "bench", 1)[1]
        finally:
            wb.close()
        project = _project(here)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["DO_NOT_TRACK"] = "1"
        port = free_port()
        atelier = subprocess.Popen(
            [sys.executable, "-m", "atelier", "up", "--port", str(port)],
            env={**env, "ATELIER_WORKSPACE": str(root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        direct: subprocess.Popen[bytes] | None = None
        try:
            base = f"http://127.0.0.1:{port}"
            atelier_uri = f"{base}/mlflow"
            auth = {"Authorization": f"Bearer {token}"}
            _wait(f"{base}/health", atelier, {})
            _wait(f"{atelier_uri}/health", atelier, auth)  # MLflow has started and migrated
            job_env = {
                **env,
                "ATELIER_URL": base,
                "ATELIER_TOKEN": token,
                "MLFLOW_TRACKING_URI": atelier_uri,
                "MLFLOW_TRACKING_TOKEN": token,
            }
            capture = _capture(project, job_env)

            direct_port = free_port()
            direct = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                 "--port", str(direct_port), "--workers", "1",
                 "--backend-store-uri", store.backend_uri, "--serve-artifacts",
                 "--artifacts-destination", str(store.artifacts_dir),
                 "--static-prefix", "/mlflow"],
                # As in Atelier's MLflow: no job runner (its task consumers would take CPU).
                env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            direct_uri = f"http://127.0.0.1:{direct_port}/mlflow"
            _wait(f"{direct_uri}/health", direct, {})
            logging = _logging(atelier_uri, token, direct_uri)
        finally:
            stop_group(atelier, 30)
            if direct is not None:
                stop_group(direct, 30)
    return "\n".join(
        ["## Experiment tracking: run capture and metric logging", "", *capture, "", *logging]
    )


if __name__ == "__main__":
    print(run())
