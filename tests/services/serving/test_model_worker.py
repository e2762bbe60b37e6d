"""A model worker started as the server starts one (``python -I model_worker.py``, here with
this interpreter as the environment's): a scikit-learn pipeline gets the compiled plan there,
loaded from Atelier's files without Atelier's packages, and answers exactly as in-process."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.services.serving import model_worker
from atelier.services.serving.models import LoadedModel
from atelier.services.serving.workers import WorkerModel, WorkerProcess
from atelier.services.tracking.registry import VersionInfo
from tests.services.serving.conftest import Registered
from tests.services.serving.helpers import EXAMPLE


class OneWorker:
    """The pool's part that :class:`WorkerModel` asks: every request goes to one process."""

    def __init__(self, process: WorkerProcess) -> None:
        self.one = process
        self._closed = threading.Event()

    def process(self, info: VersionInfo, plan: Any) -> WorkerProcess:
        return self.one

    def stop(self, name: str, version: int) -> None:
        raise AssertionError("the worker stopped answering")


@pytest.fixture(scope="module")
def served(registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    info = registered.registry().resolve("churn@champion")
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = WorkerProcess(Path(sys.executable), info.path, log)
    try:
        process.wait_ready(180)
        worker = WorkerModel(info, {}, OneWorker(process), plan=None)  # type: ignore[arg-type]
        yield LoadedModel(info, {}), worker, process
    finally:
        process.stop()


RECORDS = [
    {**EXAMPLE, "age": 18 + 7 * i, "segment": s, "country": c, "complaints": i % 4}
    for i, (s, c) in enumerate(
        (s, c) for s in ("student", "mass", "affluent", "premier") for c in ("GB", "DE", "NL")
    )
]


def test_a_pipeline_in_its_worker_is_compiled_and_answers_as_in_process(served: Any) -> None:
    in_process, worker, _ = served
    assert in_process.inference == "compiled"
    assert (worker.inference, worker.inference_note) == ("compiled", "")
    rows = in_process.schema.validate(RECORDS)  # dates among them: sent as text, typed again
    for batch in (rows, rows[:1]):
        assert worker.predict_records(batch) == in_process.predict_records(batch)


def test_unseen_values_frames_and_forged_rows_answer_as_scikit_learn_does(served: Any) -> None:
    in_process, worker, process = served
    rows = in_process.schema.validate(RECORDS[:2])
    unseen = [{**rows[0], "country": "an unseen country"}]  # ignored by its encoder: zeros
    assert worker.predict_records(unseen) == in_process.predict_records(unseen)
    # A request not marked as validated (a DataFrame sent as it is) never uses the plan.
    frame = in_process.schema.frame(rows)
    assert worker.predict(frame) == in_process.predict(frame)
    columns = [column.name for column in in_process.schema.columns]
    forged = {"op": "predict", "validated": True, "columns": columns, "dtypes": [], "rows": [[]]}
    answer = process.request(forged)  # rows that do not fit: scikit-learn's own error
    assert answer["ok"] is False and answer["error"]


LOADED_ALONE = """
import runpy, sys
worker = runpy.run_path(sys.argv[1])
compiled = worker["atelier_compiled"]()
assert callable(compiled.plan_for) and compiled.InputSchema is not None
leftover = sorted(n for n in sys.modules if n == "atelier" or n.startswith("atelier."))
import atelier  # the model's own code importing it gets the environment's package
print(leftover, hasattr(atelier, "connect"))
"""


def test_the_compiled_plan_loads_without_atelier_and_leaves_no_trace() -> None:
    """As in a worker (``-I``, the file run as a script): Atelier's modules load from their
    files, then leave ``sys.modules`` to the environment's own ``atelier``, if any."""
    found = subprocess.run(
        [sys.executable, "-I", "-c", LOADED_ALONE, model_worker.__file__],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert found.stdout.split() == ["[]", "True"], found.stderr[-2000:]
