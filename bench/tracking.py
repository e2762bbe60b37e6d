"""Experiment tracking: the cost of Atelier's run capture, and of logging through its proxy.

Capture: the same scikit-learn training script (a random forest on synthetic data, about 30 s
here) started as a job would be, against the same ``atelier up`` server, with run capture on
(``ATELIER_PROJECT`` set: user, project, profile, git commit and diff, the project's lock and
the interpreter's packages are recorded at ``start_run``) and off; whole-process wall time,
interleaved runs in fresh processes. Goal: under 5% overhead.

Through the gateway: single ``log_metric`` and ``get_run`` calls, ``log_batch`` of 1,000
points, and a 150 MiB artifact up and down, through Atelier's ``/mlflow`` (bearer token)
versus straight to a plain ``mlflow server`` on a loopback port. Atelier's MLflow is a private
child on a Unix socket that only the gateway reaches, so the peer is a second server configured
like it: one uvicorn worker, no job runner, the same backend store (the same SQLite file) and
artifact destination, the same ``/mlflow`` prefix. Fresh client processes, both sides in
alternating order, every value read back and compared; the gateway's peak memory is sampled,
and the CPU time per single call of the gateway, of the MLflow behind it and of the direct one
is counted (on shared cores, what the gateway burns is what its callers wait for).
Goals: <= 1.2x for single calls and artifact transfers, <= 1.05x for batches.
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

CAPTURE_RUNS = 3
TREES = 380  # a run of about 30 s on this machine
BATCH = 1_000  # MLflow's limit of metrics per log_batch request
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
        total = statistics.median(t for t, _ in runs)
        each = ", ".join(f"{t:.1f}" for t, _ in runs)
        start = statistics.median(r["start_run"] for _, r in runs)
        fit = statistics.median(r["fit"] for _, r in runs)
        return f"| {name} | {each} | {total:.2f} | {start:.3f} | {fit:.2f} |", total, start

    plain_row, plain_mean, plain_start = row("capture off", plain)
    captured_row, captured_mean, captured_start = row(
        "capture on (`ATELIER_PROJECT` set)", captured
    )
    overhead = (captured_mean / plain_mean - 1) * 100
    plain_times = [t for t, _ in plain]
    spread = (max(plain_times) - min(plain_times)) / plain_mean * 100
    start_delta = captured_start - plain_start
    return [
        "### Run capture on a 30-second training script",
        "",
        f"`RandomForestClassifier(n_estimators={TREES})` on 15,000 x 40 synthetic rows, one "
        "MLflow run (params, one metric) logged to the `atelier up` server through its proxy; "
        "a uv project under git with a `uv.lock` and an uncommitted change. Whole-process "
        f"wall time, {CAPTURE_RUNS} runs each, interleaved (off-on, on-off, ...), each a "
        "fresh process; medians. "
        "`start_run` s: the time `mlflow.start_run` took inside the script (where capture "
        "gathers and logs what it records).",
        "",
        "| | runs s | median s | `start_run` s | fit s |",
        "|---|---|---|---|---|",
        plain_row,
        captured_row,
        "",
        f"Overhead of capture: **{overhead:+.1f}%** ({captured_mean - plain_mean:+.2f} s; "
        f"goal under 5%: {'met' if overhead < 5 else 'NOT met'}). Of that, `start_run` took "
        f"{start_delta:+.2f} s ({start_delta / plain_mean * 100:+.1f}% of the run); the rest falls "
        "outside it (process start and exit, the fit, run-to-run variation). The runs without "
        f"capture alone spread over {spread:.0f}% of their median on this machine "
        f"(load average {os.getloadavg()[0]:.1f}), so the whole-process figure is only as "
        "exact as that; the `start_run` difference is the capture's own cost.",
    ]


REPETITIONS = 3
#: Per repetition and side: single calls timed, batches of BATCH points, artifact size.
SINGLE_CALLS = 200
BATCHES = 5
ARTIFACT_BYTES = 150 * 2**20 + 12_345  # incompressible, not a whole number of chunks


def _client_script() -> str:
    """One repetition, run in a fresh process: both sides in the order given, each doing
    the same calls; JSON timings and what was read back (for the value-by-value check)."""
    return r"""
import hashlib, json, os, sys, tempfile, time
from pathlib import Path
import mlflow
import psutil
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

spec = json.loads(sys.argv[1])
out = {}

def cpu():  # CPU seconds used so far by each server process group of spec["pids"]
    used = {}
    for name, pids in spec["pids"].items():
        total = 0.0
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        used[name] = total
    return used

for side in spec["order"]:
    client = MlflowClient(spec["uris"][side])
    run_id = client.create_run(spec["experiment"]).info.run_id
    for i in range(10):  # connections and both request paths warmed up
        client.log_metric(run_id, "warm", i, step=i)
        client.get_run(run_id)
    now = int(time.time() * 1000)
    before = cpu()
    start = time.perf_counter()
    for i in range(spec["singles"]):
        client.log_metric(run_id, "single", i * 0.5 - 7, timestamp=now + i, step=i)
    log_metric = (time.perf_counter() - start) / spec["singles"]
    middle = cpu()
    start = time.perf_counter()
    for _ in range(spec["singles"]):
        got = client.get_run(run_id)
    get_run = (time.perf_counter() - start) / spec["singles"]
    after = cpu()
    cpu_per_call = {
        call: {k: (b[k] - a[k]) / spec["singles"] for k in a}
        for call, a, b in (("log_metric", before, middle), ("get_run", middle, after))
    }
    batches = [[Metric(f"b{i % 7}", (b * 1000 + i) / 3, now + i, b * 1000 + i)
                for i in range(spec["batch"])] for b in range(spec["batches"])]
    start = time.perf_counter()
    for metrics in batches:
        client.log_batch(run_id, metrics=metrics)
    log_batch = (time.perf_counter() - start) / spec["batches"]
    start = time.perf_counter()
    client.log_artifact(run_id, spec["artifact"], "data")
    upload = time.perf_counter() - start
    with tempfile.TemporaryDirectory(dir=spec["tmp"]) as folder:
        start = time.perf_counter()
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="data/" + Path(spec["artifact"]).name,
            dst_path=folder, tracking_uri=spec["uris"][side])
        download = time.perf_counter() - start
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    history = {k: sorted((m.step, m.timestamp, m.value)
                         for m in client.get_metric_history(run_id, k))
               for k in ["single"] + [f"b{i}" for i in range(7)]}
    out[side] = {"log_metric": log_metric, "get_run": get_run, "log_batch": log_batch,
                 "upload": upload, "download": download, "sha256": digest,
                 "history": history, "run_metrics": got.data.metrics,
                 "cpu": cpu_per_call}
print(json.dumps(out))
"""


def _peak_rss(pid: int, stop: Any, peak: list[int]) -> None:
    """Sample the resident memory of process ``pid`` until ``stop`` is set."""
    import psutil

    process = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.01)


def _repetition(spec: dict[str, Any], env: dict[str, str], atelier_pid: int) -> dict[str, Any]:
    import threading

    import psutil

    stop, peak = threading.Event(), [0]
    before = psutil.Process(atelier_pid).memory_info().rss
    watcher = threading.Thread(target=_peak_rss, args=(atelier_pid, stop, peak), daemon=True)
    watcher.start()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _client_script(), json.dumps(spec)],
            env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    if result.returncode != 0:
        raise RuntimeError(f"the client exited with {result.returncode}:\n{result.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    found["gateway_rss"] = (before, peak[0])
    return found


def _expected(spec: dict[str, Any], side: dict[str, Any]) -> None:
    """What each side read back must be what was logged, value by value, on both sides."""
    singles = side["history"]["single"]
    if [(s, v) for s, _, v in singles] != [(i, i * 0.5 - 7) for i in range(spec["singles"])]:
        raise RuntimeError("single log_metric points read back differ from those logged")
    for k in range(7):
        want = sorted(
            (b * 1000 + i, (b * 1000 + i) / 3)
            for b in range(spec["batches"])
            for i in range(spec["batch"])
            if i % 7 == k
        )
        if [(s, v) for s, _, v in side["history"][f"b{k}"]] != want:
            raise RuntimeError(f"log_batch metric b{k} read back differs from what was logged")


def _spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    med = statistics.median(values) * scale
    return f"{med:.{digits}f} ({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"


def _server_pids(atelier_pid: int, direct_pid: int) -> dict[str, list[int]]:
    """The processes whose CPU time is counted: the gateway (the ``atelier up`` process
    alone), the MLflow server behind it (its children) and the direct MLflow server."""
    import psutil

    def tree(pid: int) -> list[int]:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]

    return {
        "gateway": [atelier_pid],
        "behind": tree(atelier_pid)[1:],
        "direct": tree(direct_pid),
    }


def _gateway(atelier_uri: str, token: str, direct_uri: str, atelier_pid: int,
             direct_pid: int, folder: Path) -> list[str]:  # fmt: skip
    import hashlib

    from mlflow.tracking import MlflowClient

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The token goes to both servers (the plain one ignores it): the same requests either way.
    env.update({"MLFLOW_TRACKING_TOKEN": token, "MLFLOW_DISABLE_TELEMETRY": "true"})
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    try:
        experiment = MlflowClient(atelier_uri).create_experiment(f"gw-{time.time_ns()}")
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    artifact = folder / "features.bin"
    with open(artifact, "wb") as file:
        file.write(os.urandom(ARTIFACT_BYTES))
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    uris = {"atelier": atelier_uri, "direct": direct_uri}
    loads, reps = [os.getloadavg()[0]], []
    for rep in range(REPETITIONS):  # atelier first, then direct first, ...
        order = ["atelier", "direct"][:: 1 if rep % 2 == 0 else -1]
        spec = {
            "order": order, "uris": uris, "experiment": experiment, "singles": SINGLE_CALLS,
            "batch": BATCH, "batches": BATCHES, "artifact": str(artifact), "tmp": str(folder),
            "pids": _server_pids(atelier_pid, direct_pid),
        }  # fmt: skip
        found = _repetition(spec, env, atelier_pid)
        for side in ("atelier", "direct"):
            _expected(spec, found[side])
            if found[side]["sha256"] != digest:
                raise RuntimeError(f"{side}: the downloaded artifact differs from the upload")
        if found["atelier"]["run_metrics"] != found["direct"]["run_metrics"]:
            raise RuntimeError("get_run's latest metrics differ between the two sides")
        reps.append(found)
        loads.append(os.getloadavg()[0])

    def row(name: str, key: str, scale: float, unit: str, goal: float) -> str:
        a = [r["atelier"][key] for r in reps]
        d = [r["direct"][key] for r in reps]
        ratios = [x / y for x, y in zip(a, d, strict=True)]
        ratio = statistics.median(ratios)
        verdict = "met" if ratio <= goal else "NOT met"
        return (
            f"| {name} | {_spread(d, scale)} {unit} | {_spread(a, scale)} {unit} | "
            f"{ratio:.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | <= {goal}x ({verdict}) |"
        )

    def cpu_row(name: str, key: str) -> str:
        """CPU per call, in ms: the gateway's and its MLflow's (Atelier side), the direct
        MLflow's (direct side); medians over the repetitions."""
        gateway = [r["atelier"]["cpu"][key]["gateway"] for r in reps]
        behind = [r["atelier"]["cpu"][key]["behind"] for r in reps]
        direct = [r["direct"]["cpu"][key]["direct"] for r in reps]
        return (
            f"| {name} | {_spread(direct, 1000, 2)} ms | {_spread(behind, 1000, 2)} ms | "
            f"{_spread(gateway, 1000, 2)} ms |"
        )

    mib = ARTIFACT_BYTES / 2**20
    rss_before = max(r["gateway_rss"][0] for r in reps) / 2**20
    rss_peak = max(r["gateway_rss"][1] for r in reps) / 2**20
    growth = max(r["gateway_rss"][1] - r["gateway_rss"][0] for r in reps) / 2**20
    import httpx as _httpx
    import mlflow
    import starlette
    import uvicorn

    return [
        "### Through the gateway: Atelier's `/mlflow` vs straight to MLflow",
        "",
        "`MlflowClient` against `atelier up` at `/mlflow` with a bearer token "
        "(`MLFLOW_TRACKING_TOKEN`) and against a plain `mlflow server --workers 1` (job "
        "execution off, as in Atelier's) on a loopback port with the same backend store (the "
        "same SQLite file) and artifact destination as Atelier's own MLflow: the direct server "
        "is both the peer and the limit (the gateway can only add to it). "
        f"{REPETITIONS} repetitions, each a fresh client process doing both sides in turn "
        "(Atelier first, then the direct server first, alternately), each side in its own new "
        f"run: {SINGLE_CALLS} `log_metric` calls, {SINGLE_CALLS} `get_run` calls, {BATCHES} "
        f"`log_batch` calls of {BATCH:,} points, `log_artifact` of a {mib:.0f} MiB "
        "incompressible file and `mlflow.artifacts.download_artifacts` of it. Every point is "
        "read back on both sides and compared value by value with what was logged, the "
        "downloaded file's SHA-256 with the upload's, and `get_run`'s metrics between sides. "
        "Medians, (min-max) over the repetitions; the ratio is the median of the "
        "per-repetition ratios. Every call through the gateway is also a call to the same "
        "kind of server, so a ratio under 1 is the machine's noise (two servers sharing one "
        "SQLite file on shared cores), not a gain.",
        "",
        "| call | straight to MLflow | through Atelier | ratio | goal |",
        "|---|---|---|---|---|",
        row("`log_metric`", "log_metric", 1000, "ms", 1.2),
        row("`get_run`", "get_run", 1000, "ms", 1.2),
        row(f"`log_batch` ({BATCH:,} points)", "log_batch", 1000, "ms", 1.05),
        row(f"upload {mib:.0f} MiB (`log_artifact`)", "upload", 1, "s", 1.2),
        row(f"download {mib:.0f} MiB", "download", 1, "s", 1.2),
        "",
        "CPU time per call of the processes that serve it (from `psutil`, over the same "
        f"{SINGLE_CALLS} calls): what the gateway adds is its own column; on a machine whose "
        "cores are shared, this is what turns into waiting for the other processes.",
        "",
        "| call | MLflow direct | MLflow behind Atelier | the gateway (`atelier up`) |",
        "|---|---|---|---|",
        cpu_row("`log_metric`", "log_metric"),
        cpu_row("`get_run`", "get_run"),
        "",
        f"The gateway (the `atelier up` process, MLflow's server not counted) held "
        f"{rss_before:.0f} MiB resident before a repetition and at most {rss_peak:.0f} MiB "
        f"during one (sampled every 10 ms), with a {mib:.0f} MiB file going through it each "
        f"way: {growth:+.0f} MiB, "
        + (
            "so bodies are streamed, not held (goal: streamed without buffering, met)."
            if growth < mib / 4
            else "so a body is held in memory (goal: streamed without buffering, NOT met)."
        ),
        "",
        f"Versions: MLflow {mlflow.__version__}, httpx {_httpx.__version__}, uvicorn "
        f"{uvicorn.__version__}, Starlette {starlette.__version__}. Load average (1 min) "
        f"before and after each repetition: {', '.join(f'{x:.1f}' for x in loads)} "
        f"({os.cpu_count()} cores, shared).",
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
            logging = _gateway(atelier_uri, token, direct_uri, atelier.pid, direct.pid, here)
        finally:
            stop_group(atelier, 30)
            if direct is not None:
                stop_group(direct, 30)
    return "\n".join(
        ["## Experiment tracking: run capture and the gateway", "", *capture, "", *logging]
    )


if __name__ == "__main__":
    print(run())
