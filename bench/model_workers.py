"""Predict latency of a model in its own environment (a worker process over a Unix socket)
against the same model in Atelier's process.

Goal: out-of-process p50 at most 1 ms above in-process. The model is the serving benchmark's
scikit-learn pipeline (one-hot + scaler + logistic regression, 6 inputs). Both are measured
through ``ModelServer.predict`` (validation, prediction, journaling of the log record), one
record per call, 2,000 sequential calls after a warm-up. The worker's environment is built
with uv from a lock pinning the versions Atelier has (the model would otherwise load
in-process by the rule in docs/serving.md, so the bench hands the server the worker-backed
model directly); the build time, cold (first build of the lock) and cached (same lock hash),
is reported too.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.serving import RECORD, _model

CALLS = 2000
WARM_UP = 100
#: What the worker's environment pins (at Atelier's versions): the model's libraries.
PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")


def _row(name: str, timings: list[float]) -> str:
    q = statistics.quantiles(timings, n=100)
    return f"| {name} | {statistics.median(timings):.2f} | {q[94]:.2f} | {q[98]:.2f} |"


def _close(ours: list[Any], theirs: list[Any]) -> None:
    """The same labels, and probabilities equal to 1e-12 (two environments' libraries)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.prediction == b.prediction and a.probabilities.keys() == b.probabilities.keys()
        assert all(abs(a.probabilities[k] - b.probabilities[k]) <= 1e-12 for k in a.probabilities)


def run() -> str:
    from importlib.metadata import version

    from atelier.config import Workspace, init_workspace
    from atelier.services.serving.models import LoadedModel
    from atelier.services.serving.workers import Plan, Workers, parse_lock
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
        workers = Workers(Path(folder) / "envs", Path(folder) / "logs")
        try:
            ref = parse_reference("churn@champion")
            server = wb.serving
            in_process = server.model(ref)
            assert in_process.runtime == "atelier"
            info = server.resolve(ref)
            lock = "".join(f"{name}=={version(name)}\n" for name in PACKAGES)
            plan = workers.plan(info)
            assert plan is None, "the bench model should load in Atelier's process by the rule"
            key = hashlib.sha256(lock.encode()).hexdigest()[:32]
            python = f"{sys.version_info[0]}.{sys.version_info[1]}"
            plan = Plan(key, python, tuple(parse_lock(lock)), ())
            started = time.perf_counter()
            workers.environments.build(plan)
            cold = time.perf_counter() - started
            # The same lock again: the cached environment is found, nothing is installed.
            started = time.perf_counter()
            workers.environments.ensure(plan, what="the bench model")
            cached = time.perf_counter() - started
            started = time.perf_counter()
            remote = workers.model(info, in_process.card, plan)
            first = time.perf_counter() - started
            assert remote.runtime == "own-environment"
            # Both sides serve the pipeline through its compiled plan, which answers exactly as
            # scikit-learn does in the same environment (the DataFrame path, `predict`).
            inference = (in_process.inference, remote.inference)
            assert inference == ("compiled", "compiled"), remote.inference_note
            rows = in_process.schema.validate([RECORD])  # type: ignore[union-attr]
            frame = in_process.schema.frame(rows)  # type: ignore[union-attr]
            answers = {}
            for side, model in (("in-process", in_process), ("worker", remote)):
                answers[side] = model.predict_records(rows)
                assert answers[side] == model.predict(frame)
            _close(*answers.values())

            version_key = (info.name, info.version)

            def through_server(model: object) -> float:
                server._models[version_key] = model  # type: ignore[assignment]
                start = time.perf_counter()
                server.predict(ref, [RECORD], caller="bench")
                return (time.perf_counter() - start) * 1000

            def model_call(model: LoadedModel) -> float:
                start = time.perf_counter()
                model.predict(frame)
                return (time.perf_counter() - start) * 1000

            # Alternating calls, so that the load of a shared machine weighs on both alike.
            load_before = os.getloadavg()[0]
            server_in, server_out, call_in, call_out = [], [], [], []
            for index in range(CALLS + WARM_UP):
                pair = (through_server(in_process), through_server(remote))
                calls = (model_call(in_process), model_call(remote))
                if index >= WARM_UP:
                    server_in.append(pair[0])
                    server_out.append(pair[1])
                    call_in.append(calls[0])
                    call_out.append(calls[1])
            server._models[version_key] = in_process
            load_after = os.getloadavg()[0]
        finally:
            workers.close()
            wb.close()
    extra = statistics.median(server_out) - statistics.median(server_in)
    verdict = "met" if extra <= 1.0 else "NOT met"
    return "\n".join(
        [
            "## Model workers: a model in its own environment vs in-process",
            "",
            "scikit-learn pipeline (one-hot + scaler + logistic regression, 6 inputs) through "
            "`ModelServer.predict` (validation, prediction, log record journaled), one record "
            f"per call, {CALLS:,} calls each after a warm-up, the two alternating (so that "
            "the load of a shared machine weighs on both alike). Out of process: a worker in "
            "an environment built by uv from a lock, over a Unix socket. The model call alone "
            "(the frame already validated) shows the round trip itself. Both sides predict "
            "through the pipeline's compiled plan (verified when the model loads; in the "
            "worker, against its environment's own scikit-learn). Each side's answer to the "
            "record equals its own scikit-learn's exactly; between the two environments (their "
            "numerical libraries run in two processes with their own settings), labels are "
            "equal and probabilities agree to 1e-12.",
            "",
            "| | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|",
            _row("`ModelServer.predict`, in Atelier's process", server_in),
            _row("`ModelServer.predict`, worker in its own environment", server_out),
            _row("model call alone, in Atelier's process", call_in),
            _row("model call alone, worker (JSON over a Unix socket)", call_out),
            "",
            f"Out-of-process p50 overhead: {extra:+.2f} ms. Goal (at most +1 ms p50): {verdict}.",
            "",
            f"Load average (1 min) while measuring: {load_before:.1f} at the start, "
            f"{load_after:.1f} at the end, on {os.cpu_count()} cores. Each out-of-process call "
            "wakes the worker and then the server: on a machine with more runnable processes "
            "than cores, each wake-up can wait for a time slice, which is most of the "
            "overhead measured here.",
            "",
            f"Environment build ({len(PACKAGES)} pinned packages and their dependencies, "
            f"uv's download cache warm): {cold:.1f} s; the same lock again (cached by hash): "
            f"{cached * 1000:.1f} ms; worker start to its first answer: {first:.1f} s.",
        ]
    )
