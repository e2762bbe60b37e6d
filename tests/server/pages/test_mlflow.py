"""``/mlflow`` through a real ``atelier up``: login, roles, user attribution, the path guard.

One server (and one MLflow process) for the whole module.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, start_server

API = "/mlflow/api/2.0/mlflow"


@dataclass
class Portal:
    server: RunningServer
    workbench: Workbench
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, role: str = "scientist") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "scientist", **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(role), timeout=60, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, body: object, role: str = "scientist") -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers(role), timeout=60)

    @contextmanager
    def session(self, user: str) -> Iterator[httpx.Client]:
        """A browser-like client logged in as ``user`` (session cookie, no token)."""
        with httpx.Client(base_url=self.url, timeout=60) as client:
            code = self.workbench.sessions.create_link(user)
            assert client.get(f"/login/link?code={code}").status_code in (200, 303)
            yield client

    @property
    def artifacts(self) -> Path:
        return self.workbench.tracking_server.store.artifacts_dir


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root, _ = init_workspace(tmp_path_factory.mktemp("mlflow") / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    tokens = {}
    for role in ("admin", "scientist", "viewer"):
        workbench.users.create(f"{role}1", role, PASSWORD)
        tokens[role] = workbench.tokens.create(f"{role}1", "test", 1)[1]
    server = start_server(workbench.workspace)
    portal = Portal(server, workbench, tokens)
    # The first request waits for MLflow (started in the background by `atelier up`).
    assert portal.get(f"{API}/experiments/search?max_results=1").status_code == 200
    yield portal
    server.stop()
    workbench.close()


@pytest.fixture(scope="module")
def run_id(portal: Portal) -> str:
    created = portal.post(f"{API}/runs/create", {"experiment_id": "0", "run_name": "guarded"})
    assert created.status_code == 200, created.text
    run_id: str = created.json()["run"]["info"]["run_id"]
    folder = portal.artifacts / "0" / run_id / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ok.txt").write_text("inside")
    return run_id


# -- who may reach MLflow ------------------------------------------------------------------


def test_without_a_session_the_ui_sends_to_login(portal: Portal) -> None:
    response = httpx.get(f"{portal.url}/mlflow/", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/mlflow/")


def test_without_credentials_the_api_refuses(portal: Portal) -> None:
    response = httpx.get(f"{portal.url}{API}/experiments/search?max_results=1")
    assert response.status_code == 401


def test_a_wrong_token_is_refused(portal: Portal) -> None:
    response = httpx.get(
        f"{portal.url}{API}/experiments/search?max_results=1",
        headers={"Authorization": "Bearer atl_nope_nope"},
    )
    assert response.status_code == 401


def test_a_revoked_token_is_refused_at_once_on_a_kept_connection(portal: Portal) -> None:
    info, token = portal.workbench.tokens.create("scientist1", "soon revoked", 1)
    # One keep-alive connection to Atelier, whose connection to MLflow is kept too: nothing
    # about the caller is remembered between requests, the next one after a revocation fails.
    with httpx.Client(base_url=portal.url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"name": f"revoked-{os.getpid()}"}
        created = client.post(f"{API}/experiments/create", json=body, headers=headers)
        assert created.status_code == 200, created.text
        experiment = created.json()["experiment_id"]
        assert client.get(f"{API}/experiments/get?experiment_id={experiment}", headers=headers)
        portal.workbench.tokens.revoke(info.key)
        read = client.get(f"{API}/experiments/get?experiment_id={experiment}", headers=headers)
        assert read.status_code == 401
        renamed = client.post(
            f"{API}/experiments/update",
            json={"experiment_id": experiment, "new_name": "taken over"},
            headers=headers,
        )
        assert renamed.status_code == 401
    name = portal.get(f"{API}/experiments/get?experiment_id={experiment}").json()
    assert name["experiment"]["name"] == body["name"]


def test_many_calls_share_kept_connections_and_stay_correct(portal: Portal) -> None:
    """Sequential and concurrent calls on the kept connections to MLflow: every answer is the
    one for its own request (no answer crosses to another caller)."""
    import concurrent.futures

    body = {"name": f"kept-{os.getpid()}"}
    experiment = portal.post(f"{API}/experiments/create", body).json()["experiment_id"]
    run = portal.post(f"{API}/runs/create", {"experiment_id": experiment}).json()["run"]
    run_id = run["info"]["run_id"]

    def log(step: int) -> int:
        point = {"run_id": run_id, "key": f"k{step % 3}", "value": step / 7, "step": step,
                 "timestamp": 1_700_000_000_000 + step}  # fmt: skip
        response = portal.post(f"{API}/runs/log-metric", point)
        assert response.status_code == 200, response.text
        got = portal.get(f"{API}/runs/get?run_id={run_id}")
        assert got.json()["run"]["info"]["run_id"] == run_id
        return step

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(log, range(30))) == list(range(30))
    for key in range(3):
        history = portal.get(f"{API}/metrics/get-history?run_id={run_id}&metric_key=k{key}")
        points = sorted((m["step"], m["value"]) for m in history.json()["metrics"])
        assert points == [(s, s / 7) for s in range(30) if s % 3 == key]


def test_viewers_cannot_see_runs(portal: Portal) -> None:
    response = portal.get(f"{API}/experiments/search?max_results=1", role="viewer")
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]


def test_scientists_get_the_ui_and_api(portal: Portal) -> None:
    page = portal.get("/mlflow/")
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    experiments = portal.get(f"{API}/experiments/search?max_results=5").json()["experiments"]
    assert "Default" in [e["name"] for e in experiments]


def test_the_mlflow_page_carries_atelier_settings(portal: Portal) -> None:
    page = portal.get("/mlflow/")
    head = page.text.split("</head>")[0]
    # Ahead of MLflow's own (deferred) bundle, so the settings are stored before it reads them.
    assert head.index('<script src="/static/mlflow-settings.js">') < head.index("main.")
    assert '<link rel="stylesheet" href="/static/mlflow-settings.css">' in head
    assert page.text.count("mlflow-settings.js") == 1
    assert int(page.headers["content-length"]) == len(page.content)
    assert "etag" not in page.headers
    # A browser's copy from before is not revalidated into use: the page comes whole.
    conditional = {**portal.headers(), "If-None-Match": "*", "If-Modified-Since": "x"}
    again = httpx.get(f"{portal.url}/mlflow/", headers=conditional, timeout=60)
    assert again.status_code == 200
    assert "mlflow-settings.js" in again.text
    # Only the page: MLflow's other files pass through as they are.
    manifest = portal.get("/mlflow/static-files/manifest.json")
    assert manifest.status_code == 200
    assert "mlflow-settings" not in manifest.text
    script = portal.get("/static/mlflow-settings.js")
    assert "mlflow.telemetry.info.alert.dismissed_v1" in script.text
    assert "[data-assistant-ui]" in portal.get("/static/mlflow-settings.css").text


def test_browser_writes_need_same_origin(portal: Portal) -> None:
    body = {"name": "from-the-browser"}
    with portal.session("scientist1") as browser:
        forged = browser.post(
            f"{API}/experiments/create", json=body, headers={"Origin": "http://evil.example"}
        )
        assert forged.status_code == 403
        assert "cross-origin" in forged.json()["detail"]
        cross = browser.post(
            f"{API}/experiments/create", json=body, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        same = browser.post(f"{API}/experiments/create", json=body, headers={"Origin": portal.url})
        assert same.status_code == 200, same.text


# -- a real MLflow client against Atelier ---------------------------------------------------


CLIENT = textwrap.dedent(
    """
    import json, os, sys, tempfile
    import mlflow

    mlflow.set_experiment("through-atelier")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("rmse", 1.25)
        try:
            mlflow.set_tag("mlflow.user", "mallory")
        except mlflow.exceptions.MlflowException as refused:
            assert refused.error_code == "PERMISSION_DENIED", refused
        else:
            raise AssertionError("mlflow.user was re-tagged")
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "note.txt"), "w") as handle:
            handle.write("hello through the proxy")
        mlflow.log_artifact(os.path.join(folder, "note.txt"), artifact_path="notes")
    client = mlflow.MlflowClient()
    fetched = client.get_run(run.info.run_id)
    path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="notes/note.txt"
    )
    print(json.dumps({
        "user_id": fetched.info.user_id,
        "user_tag": fetched.data.tags.get("mlflow.user"),
        "metrics": fetched.data.metrics,
        "artifact_uri": fetched.info.artifact_uri,
        "artifact": open(path).read(),
    }))
    """
)


def test_mlflow_client_logs_through_atelier_as_the_atelier_user(portal: Portal) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ATELIER_"))}
    env["MLFLOW_TRACKING_URI"] = f"{portal.url}/mlflow"
    env["MLFLOW_TRACKING_TOKEN"] = portal.tokens["scientist"]
    done = subprocess.run(
        [sys.executable, "-c", CLIENT], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["user_id"] == "scientist1"
    assert result["user_tag"] == "scientist1"  # the forged mlflow.user tag was refused
    assert result["metrics"] == {"rmse": 1.25}
    assert result["artifact"] == "hello through the proxy"
    assert result["artifact_uri"].startswith("mlflow-artifacts:/")
    stored = list(portal.artifacts.glob("*/*/artifacts/notes/note.txt"))
    assert [p.read_text() for p in stored] == ["hello through the proxy"]


def test_registry_records_who_registered(portal: Portal, run_id: str) -> None:
    assert portal.post(f"{API}/registered-models/create", {"name": "churn"}).status_code == 200
    version = portal.post(
        f"{API}/model-versions/create",
        {"name": "churn", "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    assert version.status_code == 200, version.text
    tags = {t["key"]: t["value"] for t in version.json()["model_version"].get("tags", [])}
    assert tags["atelier.registered_by"] == "scientist1"


# -- the artifact path guard: one test per trick ----------------------------------------------


def raw_get(portal: Portal, target: str) -> tuple[int, str]:
    """GET with the path sent byte for byte (httpx would normalise '..')."""
    parts = urlsplit(portal.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", target, headers=portal.headers())
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


ARTIFACTS = "/mlflow/api/2.0/mlflow-artifacts/artifacts"


def assert_refused(status: int, text: str, reason: str) -> None:
    assert status in (400, 403), (status, text)
    assert reason in json.loads(text)["message"], text


def test_guard_lets_a_plain_artifact_through(portal: Portal, run_id: str) -> None:
    status, text = raw_get(portal, f"{ARTIFACTS}/0/{run_id}/artifacts/ok.txt")
    assert (status, text) == (200, "inside")
    status, text = raw_get(portal, f"/mlflow/get-artifact?path=ok.txt&run_uuid={run_id}")
    assert (status, text) == (200, "inside")


def test_guard_refuses_dot_dot_segments(portal: Portal) -> None:
    assert_refused(*raw_get(portal, f"{ARTIFACTS}/0/../../../../etc/passwd"), "'..' segment")


def test_guard_refuses_dot_dot_in_query_path(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=../../../../etc/passwd&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "'..' segment")


def test_guard_refuses_url_encoded_dot_dot(portal: Portal) -> None:
    assert_refused(*raw_get(portal, f"{ARTIFACTS}/0/%2e%2e/%2E%2E/etc/passwd"), "'..' segment")


def test_guard_refuses_encoded_slash(portal: Portal) -> None:
    assert_refused(*raw_get(portal, f"{ARTIFACTS}/0/..%2f..%2fetc%2fpasswd"), "encoded '/'")


def test_guard_refuses_double_encoding(portal: Portal) -> None:
    assert_refused(*raw_get(portal, f"{ARTIFACTS}/0/%252e%252e/etc/passwd"), "encoded twice")


def test_guard_refuses_double_encoding_in_query(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=%252e%252e%252fsecret&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "encoded twice")


def test_guard_refuses_absolute_paths(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=/etc/passwd&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "absolute path")


def test_guard_refuses_file_uri_in_query(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=file:///etc/passwd&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "file: URI")


def test_guard_refuses_file_uri_as_model_source(portal: Portal) -> None:
    portal.post(f"{API}/registered-models/create", {"name": "sneaky"})
    response = portal.post(
        f"{API}/model-versions/create", {"name": "sneaky", "source": "file:///etc"}
    )
    assert_refused(response.status_code, response.text, "outside the server's artifact store")


def test_guard_refuses_other_schemes_as_model_source(portal: Portal) -> None:
    response = portal.post(
        f"{API}/model-versions/create", {"name": "sneaky", "source": "s3://bucket/elsewhere"}
    )
    assert_refused(response.status_code, response.text, "scheme s3: is not allowed")


def test_guard_refuses_climbing_model_source(portal: Portal) -> None:
    response = portal.post(
        f"{API}/model-versions/create",
        {"name": "sneaky", "source": "mlflow-artifacts:/0/../../../etc"},
    )
    assert_refused(response.status_code, response.text, "'..' segment")


def test_guard_refuses_local_experiment_artifact_location(portal: Portal) -> None:
    response = portal.post(
        f"{API}/experiments/create", {"name": "elsewhere", "artifact_location": "/etc"}
    )
    assert_refused(response.status_code, response.text, "the server chooses it")


def test_guard_refuses_json_encoded_twice(portal: Portal) -> None:
    """MLflow decodes a JSON string body a second time; so does the guard."""
    body = json.dumps({"name": "sneaky", "source": "file:///etc/passwd"})
    response = httpx.post(
        f"{portal.url}{API}/model-versions/create",
        content=json.dumps(body),
        headers={**portal.headers(), "Content-Type": "application/json"},
    )
    assert_refused(response.status_code, response.text, "outside the server's artifact store")


def test_guard_refuses_hash_in_path(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=ok.txt%23/../../secret&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "'#' or '?'")


def test_guard_refuses_question_mark_in_path(portal: Portal) -> None:
    assert_refused(*raw_get(portal, f"{ARTIFACTS}/0/x%3f/../../secret"), "'#' or '?'")


def test_guard_refuses_backslashes(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=..%5c..%5csecret&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "backslash")


def test_guard_refuses_nul_bytes(portal: Portal, run_id: str) -> None:
    target = f"/mlflow/get-artifact?path=ok.txt%00.png&run_uuid={run_id}"
    assert_refused(*raw_get(portal, target), "NUL byte")


def test_guard_refuses_log_artifact_outside_the_run(portal: Portal) -> None:
    response = httpx.put(
        f"{portal.url}{ARTIFACTS}/0/%2e%2e/%2e%2e/planted.txt",
        content=b"x",
        headers=portal.headers(),
    )
    assert_refused(response.status_code, response.text, "'..' segment")
    assert not list(portal.artifacts.parent.rglob("planted.txt"))


def test_guard_refuses_symlinks_leaving_the_store(portal: Portal, run_id: str) -> None:
    secret = portal.artifacts.parent.parent / "secret.txt"
    secret.write_text("not for you")
    link = portal.artifacts / "0" / run_id / "artifacts" / "link.txt"
    link.symlink_to(secret)
    for target in (
        f"/mlflow/get-artifact?path=link.txt&run_uuid={run_id}",
        f"{ARTIFACTS}/0/{run_id}/artifacts/link.txt",
    ):
        status, text = raw_get(portal, target)
        assert status == 403, (target, status, text)
        assert "outside the artifact store" in json.loads(text)["message"]
        assert "not for you" not in text
