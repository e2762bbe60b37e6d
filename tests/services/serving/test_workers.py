"""Models in their own environment, end to end: a LightGBM model trained in a project whose
environment has ``lightgbm`` (Atelier's does not) is served by a worker process built from its
captured lock (real uv, real PyPI as the project tests use), through the API, a generated app
in Chromium, the prediction log and a job, and into a container image that passes its container
test; builds that are slow, fail, or that a hostile lock tries to steer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.config import Workspace, init_workspace
from atelier.errors import InvalidInput
from atelier.server.app import create_app
from atelier.services.auth import Principal
from atelier.services.containers.engines import Engine
from atelier.services.serving.workers import (
    EnvironmentFailed,
    Pin,
    Plan,
    differences,
    parse_lock,
)
from atelier.services.tracking import TrackingStore
from atelier.services.tracking.references import parse_reference
from atelier.services.tracking.registry import mlflow_client
from atelier.services.workbench import Workbench
from tests.browser.conftest import ARGS, CHROMIUM
from tests.conftest import free_port
from tests.services.containers.conftest import SETTINGS, podman  # noqa: F401 (a fixture)
from tests.services.serving.helpers import add_accounts

TRAIN = """
import sys
import lightgbm
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

uri, artifacts = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
frame = pd.DataFrame(
    {"fees": rng.normal(size=300), "tenure": rng.integers(1, 99, 300).astype("int64")}
)
labels = (frame["fees"] + rng.normal(0, 0.3, 300) > 0).astype(int)
model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, labels)
mlflow.set_tracking_uri(uri)
client = mlflow.MlflowClient()
experiment = client.create_experiment("gbm", artifact_location=artifacts)
with mlflow.start_run(experiment_id=experiment):
    mlflow.lightgbm.log_model(
        model,
        name="model",
        signature=infer_signature(frame, labels),
        input_example=frame.head(2),
        registered_model_name="gbm",
    )
probabilities = model.predict_proba(pd.DataFrame({"fees": [1.5], "tenure": [12]}))
print("EXPECTED", float(probabilities[0][1]))
"""

SCORE = """
import os, sys
import lightgbm
import mlflow.pyfunc
import pandas as pd

model = mlflow.pyfunc.load_model(os.environ["ATELIER_MODEL_PATH"])
print("model", os.environ["ATELIER_MODEL"], "lightgbm", lightgbm.__version__)
print("scores", model.predict(pd.DataFrame({"fees": [1.5, -2.0], "tenure": [12, 40]})).tolist())
print("python", sys.prefix)
"""

RECORD = {"fees": 1.5, "tenure": 12}


@dataclass
class Served:
    wb: Workbench
    client: TestClient
    headers: dict[str, dict[str, str]]
    model_dir: Path
    expected: float
    folder: Path

    def get(self, path: str, who: str = "scientist1") -> Any:
        return self.client.get(path, headers=self.headers[who])

    def post(self, path: str, body: Any, who: str = "scientist1") -> Any:
        return self.client.post(path, json=body, headers=self.headers[who])


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_", "UV_"))}


@dataclass
class Trained:
    """A workspace whose project ``name`` trained and logged a model with its own library."""

    wb: Workbench
    headers: dict[str, dict[str, str]]
    stdout: str


def train_in_project(root: Path, name: str, package: str, train: str) -> Trained:
    """Workspace ``root`` (made): project ``name`` of ada with ``package`` in its environment
    runs ``train`` (argv: the tracking store's URI, the experiment's artifacts folder)."""
    workspace = Workspace.open(root, environ={})
    store = TrackingStore.for_workspace(workspace)
    store.prepare()
    wb = Workbench(workspace)
    headers = add_accounts(wb)
    user = wb.users.ensure("ada", "scientist")
    ada = Principal(user.id, user.name, user.role, "local")
    project = wb.projects.create(name, ada)
    wb.projects.env.add(name, [package], ada)
    (project.path / "train.py").write_text(train)
    trained = subprocess.run(
        [str(project.python), "train.py", store.backend_uri, str(store.artifacts_dir / name)],
        cwd=project.path,
        env={**_clean_environ(), "ATELIER_PROJECT": name},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    return Trained(wb, headers, trained.stdout)


def register_copy(served: Served, name: str, lock: str) -> None:
    """Register the LightGBM model's files again as ``name``, with ``lock`` as its
    ``requirements.lock``."""
    folder = served.folder / name
    shutil.copytree(served.model_dir, folder)
    (folder / "requirements.lock").write_text(lock)
    client = mlflow_client(served.wb.models.tracking_uri)
    client.create_registered_model(name)
    client.create_model_version(name, source=str(folder))


def without(lock: str, package: str) -> str:
    """``lock`` without the entry of ``package`` (its line and its hash lines)."""
    kept, skipping = [], False
    for line in lock.splitlines():
        if line.startswith(f"{package}=="):
            skipping = line.rstrip().endswith("\\")
            continue
        if skipping:
            skipping = line.rstrip().endswith("\\")
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def wait_built(served: Served, name: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        runtime = served.wb.serving.runtime(parse_reference(name), start=True)
        if runtime["state"] in ("ready", "failed") or time.monotonic() > deadline:
            return runtime
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("workers")
    root, _ = init_workspace(folder / "ws")
    config = root / "atelier.toml"
    # No server answers here: jobs run against the workspace directly.
    config.write_text(config.read_text().replace("port = 8700", "port = 1") + SETTINGS)
    trained = train_in_project(root, "gbm", "lightgbm", TRAIN)
    wb, headers = trained.wb, trained.headers
    expected = float(trained.stdout.split("EXPECTED ", 1)[1].split()[0])
    model_dir = wb.models.resolve("gbm").path
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        yield Served(wb, client, headers, Path(model_dir), expected, folder)
    wb.close()


def test_a_lightgbm_model_predicts_through_the_api_in_its_own_environment(
    served: Served,
) -> None:
    assert "lightgbm" not in sys.modules
    runtime = served.wb.serving.runtime(parse_reference("gbm"))
    assert runtime["runs_in"] == "own-environment"
    assert any("lightgbm" in r and "not installed" in r for r in runtime["reasons"])
    first = served.get("/api/v1/models/gbm/serving")
    if first.status_code == 503:  # the first request starts the build
        assert first.headers["Retry-After"].isdigit()
        assert "is being built" in first.json()["detail"]
    assert wait_built(served, "gbm")["state"] == "ready"

    info = served.get("/api/v1/models/gbm/serving")
    assert info.status_code == 200, info.text
    assert info.json()["classes"] == [0, 1]
    assert info.json()["runtime"]["runs_in"] == "own-environment"
    answer = served.post("/api/v1/models/gbm/predict", RECORD)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["model"] == "gbm" and found["version"] == 1 and found["prediction"] in (0, 1)
    assert found["probabilities"]["1"] == pytest.approx(served.expected)
    batch = served.post("/api/v1/models/gbm/predict", [RECORD, {"fees": -2.0, "tenure": 40}])
    assert [p["prediction"] for p in batch.json()["predictions"]] == [1, 0]
    # Validation is the server's, as for an in-process model.
    wrong = served.post("/api/v1/models/gbm/predict", {"fees": "high", "tenure": 3})
    assert wrong.status_code == 422 and "fees" in wrong.json()["detail"]
    # The worker is another process, running the environment's interpreter.
    [(name, version)] = served.wb.serving.workers.running()  # type: ignore[union-attr]
    assert (name, version) == ("gbm", 1)
    assert "lightgbm" not in sys.modules

    card = served.get("/api/v1/models/gbm/card").json()
    assert card["serving"]["state"] == "ready" and card["serving"]["worker"] == "running"
    page = served.get("/models/gbm")
    assert 'data-testid="card-runtime" data-state="ready"' in page.text


def test_out_of_process_predictions_are_logged_and_take_feedback(served: Served) -> None:
    answer = served.post("/api/v1/models/gbm/predict", RECORD, who="admin1").json()
    served.wb.serving.flush()
    with served.wb.warehouse.connect() as connection:
        rows = connection.execute(
            "SELECT caller, model_version, prediction, probability FROM predictions.gbm "
            "WHERE prediction_id = ?",
            [answer["id"]],
        ).fetchall()
    assert rows == [("admin1", 1, str(answer["prediction"]), answer["probability"])]
    assert served.wb.serving.find(answer["id"], "gbm")["caller"] == "admin1"


def test_a_generated_app_and_its_feedback_work_out_of_process(served: Served) -> None:
    created = served.post("/api/v1/apps", {"name": "gbm-demo", "model": "gbm", "title": "GBM"})
    assert created.status_code == 201, created.text
    app = served.get("/api/v1/apps/gbm-demo").json()
    assert {f["name"]: f["widget"] for f in app["form"]} == {"fees": "number", "tenure": "integer"}
    predicted = served.post("/api/v1/apps/gbm-demo/predict", RECORD)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["prediction"] == 1
    verdict = {"prediction_id": predicted.json()["id"], "verdict": "wrong", "correct_value": "0"}
    response = served.post("/api/v1/apps/gbm-demo/feedback", verdict)
    assert response.status_code == 201, response.text
    served.wb.serving.flush()
    logged = served.wb.warehouse.read("gbm", schema="predictions").to_pylist()
    assert any(
        r["prediction_id"] == predicted.json()["id"] and r["app"] == "gbm-demo" for r in logged
    )


def test_a_generated_app_in_chromium_predicts_out_of_process_and_takes_feedback(
    served: Served,
) -> None:
    """The browser drives the app's real page (htmx form, session cookie, CSRF header) on the
    fixture's own application, which listens on a port for it."""
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(f"{missing}; or `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    assert wait_built(served, "gbm")["state"] == "ready"
    created = served.post("/api/v1/apps", {"name": "gbm-browser", "model": "gbm", "title": "GBM"})
    assert created.status_code == 201, created.text
    with listening(served.client.app) as origin, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{origin}/apps/gbm-browser")
            page.fill("input[name=name]", "scientist1")
            page.fill("input[name=password]", "correct horse battery")
            page.click("button[type=submit]")
            page.wait_for_url(f"{origin}/apps/gbm-browser")
            assert page.locator("input[name=fees]").get_attribute("data-widget") == "number"
            assert page.locator("input[name=tenure]").get_attribute("data-widget") == "integer"
            page.fill("input[name=fees]", "1.5")
            page.fill("input[name=tenure]", "12")
            page.click("text=Predict")
            assert page.get_by_test_id("prediction-value").inner_text() == "1"
            shown = page.get_by_test_id("prediction-probability").inner_text()
            assert shown == f"{served.expected * 100:.1f}%"
            prediction_id = page.locator("input[name=prediction_id]").input_value()
            page.check("input[name=verdict][value=wrong]")
            page.fill("input[name=correct_value]", "0")
            page.fill("textarea[name=comment]", "left the bank in March")
            page.click("text=Send feedback")
            assert "wrong" in page.get_by_test_id("feedback-thanks").inner_text()
        finally:
            browser.close()
    served.wb.serving.flush()
    served.wb.feedback.ship()
    logged = served.wb.warehouse.read("gbm", schema="predictions").to_pylist()
    [row] = [r for r in logged if r["prediction_id"] == prediction_id]
    assert (row["app"], row["caller"], row["prediction"]) == ("gbm-browser", "scientist1", "1")
    feedback = served.wb.warehouse.read("gbm_browser", schema="feedback").to_pylist()
    assert [(f["verdict"], f["correct_value"], f["given_by"]) for f in feedback] == [
        ("wrong", "0", "scientist1")
    ]


@contextmanager
def listening(app: Any) -> Iterator[str]:
    """``app`` (already started) also answering on a free loopback port: its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not listen"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_an_image_of_the_lightgbm_model_builds_and_passes_its_container_test(
    served: Served,
    podman: Engine,  # noqa: F811 (the fixture imported above)
) -> None:
    """The image's wheelhouse holds lightgbm's wheel (and its native library works there); the
    container answers what the worker answers."""
    assert wait_built(served, "gbm")["state"] == "ready"
    owner = served.wb.owner()
    tag = "atelier-model/gbm:v1"
    try:
        built = served.wb.containers.build("gbm/1", by=owner)
        assert built["image"] == tag
        labels = podman.inspect(tag).labels
        assert labels["io.atelier.model"] == "gbm" and labels["io.atelier.model.version"] == "1"
        tested = served.wb.containers.test("gbm/1", by=owner)
        assert tested["passed"] is True, tested
        assert tested["mismatches"] == []
        assert tested["records"] >= 2  # the input example's rows, and logged predictions
        assert served.wb.containers.status("gbm/1")["test"]["passed"] is True
    finally:
        podman.remove_image(tag)


def test_idle_workers_stop_and_start_again_on_the_next_request(served: Served) -> None:
    workers = served.wb.serving.workers
    assert workers is not None
    assert workers.stop_idle(0) == [("gbm", 1)]
    assert workers.running() == []
    answer = served.post("/api/v1/models/gbm/predict", RECORD)
    assert answer.status_code == 200, answer.text
    assert workers.running() == [("gbm", 1)]


def test_503_while_the_environment_builds_then_a_missing_package_is_a_clear_error(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock that misses a package the model imports (lightgbm): its environment builds
    (503 with progress meanwhile), then the model cannot be loaded there: a 422 saying why,
    on the card too."""
    lock = (served.model_dir / "requirements.lock").read_text()
    register_copy(served, "gbm-missing", without(lock, "lightgbm"))
    environments = served.wb.serving.workers.environments  # type: ignore[union-attr]
    release = threading.Event()
    install = environments.install

    def slow_install(plan: Plan, venv: Path) -> None:
        environments._say(plan.key, "installing (held by the test)")
        assert release.wait(120)
        install(plan, venv)

    monkeypatch.setattr(environments, "install", slow_install)
    try:
        for path in ("/api/v1/models/gbm-missing/serving", "/api/v1/models/gbm-missing/predict"):
            response = served.get(path) if path.endswith("serving") else served.post(path, RECORD)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert "being built from its lock" in response.json()["detail"]
        deadline = time.monotonic() + 60
        while "held by the test" not in served.get("/models/gbm-missing").text:
            assert time.monotonic() < deadline, "the page never showed the build's progress"
            time.sleep(0.1)
        assert 'data-state="building"' in served.get("/models/gbm-missing").text
        card = served.get("/api/v1/models/gbm-missing/card").json()
        assert card["serving"]["state"] == "building"
    finally:
        release.set()
    assert wait_built(served, "gbm-missing")["state"] == "ready"  # the rest installs

    answer = served.post("/api/v1/models/gbm-missing/predict", RECORD)
    assert answer.status_code == 422, answer.text
    assert "No module named 'lightgbm'" in answer.json()["detail"]
    card = served.get("/api/v1/models/gbm-missing/card").json()
    assert card["serving"]["state"] == "failed"
    assert "No module named 'lightgbm'" in card["serving"]["message"]
    page = served.get("/models/gbm-missing").text
    assert 'data-state="failed"' in page and "No module named &#39;lightgbm&#39;" in page
    # Remembered: the next request does not start a worker again to fail the same way.
    assert served.post("/api/v1/models/gbm-missing/predict", RECORD).status_code == 422
    assert ("gbm-missing", 1) not in served.wb.serving.workers.running()  # type: ignore[union-attr]


def test_a_corrupted_or_unresolvable_lock_is_a_clear_error(served: Served) -> None:
    lock = (served.model_dir / "requirements.lock").read_text()
    register_copy(served, "gbm-corrupt", lock.replace("numpy==", "numpy>=", 1))
    answer = served.post("/api/v1/models/gbm-corrupt/predict", RECORD)
    assert answer.status_code == 422
    assert "is not a pinned requirement" in answer.json()["detail"]
    assert served.get("/api/v1/models/gbm-corrupt/serving").status_code == 422
    card = served.get("/api/v1/models/gbm-corrupt/card").json()
    assert card["serving"]["state"] == "failed"
    assert "requirements.lock line" in card["serving"]["message"]

    register_copy(served, "gbm-nowhere", lock + "atelier-no-such-package-xyz==1.0\n")
    runtime = wait_built(served, "gbm-nowhere")
    assert runtime["state"] == "failed"
    assert "atelier-no-such-package-xyz" in runtime["message"]
    answer = served.post("/api/v1/models/gbm-nowhere/predict", RECORD)
    assert answer.status_code == 422
    assert "could not be built" in answer.json()["detail"]
    assert "atelier-no-such-package-xyz" in answer.json()["detail"]
    # Nothing half-built is left: only the failed build's state.
    key = runtime["environment"]
    folder = served.wb.serving.workers.environments.folder(key)  # type: ignore[union-attr]
    assert sorted(p.name for p in folder.iterdir()) == ["requirements.txt", "state.json"]


def test_a_job_runs_in_the_environment_of_a_model(served: Served, tmp_path: Path) -> None:
    (tmp_path / "score.py").write_text(SCORE)
    owner = served.wb.owner()
    job = served.wb.jobs.submit(["score.py"], principal=owner, cwd=tmp_path, model_env="gbm")
    output = "".join(served.wb.jobs.follow(job.id))
    assert served.wb.jobs.get(job.id).state == "succeeded", output
    assert "model gbm/1 lightgbm " in output
    assert "scores [1, 0]" in output
    key = served.wb.serving.runtime(parse_reference("gbm"))["environment"]
    assert f"python {served.wb.serving.workers.environments.folder(key)}" in output  # type: ignore[union-attr]

    with pytest.raises(InvalidInput, match="not both"):
        served.wb.jobs.submit(
            ["score.py"], principal=owner, cwd=tmp_path, model_env="gbm", project="gbm"
        )
    with pytest.raises(InvalidInput, match="notebook"):
        served.wb.jobs.submit(["report.ipynb"], principal=owner, cwd=tmp_path, model_env="gbm")
    with pytest.raises(EnvironmentFailed, match="not a pinned requirement"):
        served.wb.jobs.submit(["score.py"], principal=owner, cwd=tmp_path, model_env="gbm-corrupt")


def test_the_jobs_api_takes_a_model_environment(served: Served) -> None:
    (served.wb.workspace.root / "score.py").write_text(SCORE)
    response = served.post("/api/v1/jobs", {"target": ["score.py"], "model_env": "gbm@nowhere"})
    assert response.status_code == 404, response.text
    response = served.post("/api/v1/jobs", {"target": ["score.py"], "model_env": "gbm-corrupt"})
    assert response.status_code == 422 and "requirements.lock line" in response.text
    response = served.post("/api/v1/jobs", {"target": ["score.py"], "model_env": "gbm/1"})
    assert response.status_code == 201, response.text
    job = response.json()
    output = "".join(served.wb.jobs.follow(job["id"]))
    assert "model gbm/1 lightgbm" in output and "scores [1, 0]" in output
    # Viewers run no jobs, whatever the environment.
    refused = served.post("/api/v1/jobs", {"target": ["score.py"], "model_env": "gbm"}, "viewer1")
    assert refused.status_code == 403


def test_a_worker_dies_with_its_server(served: Served, tmp_path: Path) -> None:
    """A server killed without closing anything: its worker goes too."""
    info = served.wb.models.resolve("gbm")
    key = served.wb.serving.runtime(parse_reference("gbm"))["environment"]
    python = served.wb.serving.workers.environments.python(key)  # type: ignore[union-attr]
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from atelier.services.serving.workers import WorkerProcess\n"
        "p = WorkerProcess(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))\n"
        "p.wait_ready(120)\n"
        "print(p.process.pid, p.folder, flush=True)\n"
        "os._exit(0)\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", code, str(python), str(info.path), str(tmp_path / "w.log")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr
    pid, folder = started.stdout.split()
    deadline = time.monotonic() + 30
    while _running(int(pid)):
        assert time.monotonic() < deadline, f"worker {pid} outlived its server"
        time.sleep(0.1)
    assert not Path(folder).exists()  # nor does its socket's folder stay behind


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- the lock, read with suspicion ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("--index-url https://evil.example/simple\nsix==1.17.0\n", "is not a pinned requirement"),
        ("-e /home/ada/project\n", "is not a pinned requirement"),
        ("six @ file:///etc/passwd\n", "is not a pinned requirement"),
        ("six>=1\n", "is not a pinned requirement"),
        ("six==1.17.0 --extra-index-url=https://evil.example\n", "is not allowed"),
        ("six==1.17.0 --hash=md5:abc\n", "is not allowed"),
        ("six==1.17.0\nSix==1.16.0\n", "pinned twice"),
        ("six==1.17.0 \\\n", "truncated"),
        ("# only comments\n\n", "pins no package"),
    ],
)
def test_a_lock_cannot_steer_uv(text: str, problem: str) -> None:
    with pytest.raises(EnvironmentFailed, match=problem):
        parse_lock(text)


def test_pins_hashes_and_which_packages_count() -> None:
    digest = "ab" * 32
    pins = parse_lock(
        "# Complete lock\n"
        f"numpy==2.4.6 \\\n    --hash=sha256:{digest}\n"
        "pandas==3.1.1  # RECORD sha256:00\n"
        "appnope==0.1.4\n"
    )
    assert pins == [
        Pin("numpy", "2.4.6", (f"sha256:{digest}",)),
        Pin("pandas", "3.1.1"),
        Pin("appnope", "0.1.4"),
    ]
    here = {"numpy": "2.4.6", "pandas": "3.0.0"}
    record = {
        "packages": [
            {"name": "numpy", "modules": ["numpy"]},
            {"name": "pandas", "modules": ["pandas"]},
            {"name": "appnope"},  # in the project's lock, never imported
        ]
    }
    assert differences(record, pins, here) == ["pandas 3.1.1 (Atelier has 3.0.0)"]
    # Without the record of what was imported, every pin counts.
    assert differences(None, pins, here) == [
        "pandas 3.1.1 (Atelier has 3.0.0)",
        "appnope 0.1.4 is not installed in Atelier's environment",
    ]
    assert differences(record, pins, {**here, "pandas": "3.1.1"}) == []


def test_concurrent_builds_of_one_lock_install_once(tmp_path: Path) -> None:
    """Two servers (two Environments on one folder) asked for the same environment at once:
    one installs, the other waits for it and finds it built."""
    from atelier.services.serving.workers import Environments

    pins = tuple(parse_lock("six==1.17.0\n"))
    plan = Plan("k" * 32, f"{sys.version_info[0]}.{sys.version_info[1]}", pins, ())
    installs: list[str] = []
    entered = threading.Event()

    def counting(name: str) -> Any:
        def install(plan: Plan, venv: Path) -> None:
            installs.append(name)
            entered.set()
            time.sleep(0.5)  # the other build arrives meanwhile and must wait
            (venv / "installed").write_text(name)

        return install

    first, second = Environments(tmp_path), Environments(tmp_path)
    first.install = counting("first")  # type: ignore[method-assign]
    second.install = counting("second")  # type: ignore[method-assign]
    first.start(plan)
    assert entered.wait(60)
    second.start(plan)
    assert second.state(plan.key).state == "building"
    assert first.wait(plan.key, 60).state == "ready"
    assert second.wait(plan.key, 60).state == "ready"
    assert installs == ["first"]
    assert (tmp_path / plan.key / "venv" / "installed").read_text() == "first"
    assert not list((tmp_path / plan.key).glob("venv.partial-*"))
