"""Attacks on the MLflow gateway: choosing where MLflow's server reads or writes files.

A scientist tries to make MLflow write artifacts (or read them) outside the workspace's
artifact store: a client-chosen experiment artifact location in every spelling MLflow's
parser accepts, model version sources, runs and logged models under an experiment that points
elsewhere, trace tags MLflow turns into locations, query strings and GET bodies on artifact
endpoints. Everything is refused in MLflow's error format, and nothing appears outside the store.
One real ``atelier up`` (and one MLflow) for the module.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, start_server
from tests.server.pages.test_mlflow import Portal, raw_get

pytest.importorskip("mlflow")

API = "/mlflow/api/2.0/mlflow"
AJAX = "/mlflow/ajax-api/2.0/mlflow"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root, _ = init_workspace(tmp_path_factory.mktemp("mlflow-attacks") / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    tokens = {}
    for role in ("admin", "scientist", "viewer"):
        workbench.users.create(f"{role}1", role, PASSWORD)
        tokens[role] = workbench.tokens.create(f"{role}1", "test", 1)[1]
    server = start_server(workbench.workspace)
    portal = Portal(server, workbench, tokens)
    assert portal.get(f"{API}/experiments/search?max_results=1").status_code == 200
    yield portal
    server.stop()
    workbench.close()


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the store that the attacks aim at; it must stay empty."""
    return tmp_path_factory.mktemp("outside")


@pytest.fixture(scope="module")
def planted(portal: Portal, outside: Path) -> dict[str, str]:
    """What an old workspace may hold: an experiment whose artifact location is outside the
    store (created on the backend store, as the camelCase bypass once allowed), with a run."""
    from mlflow import MlflowClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own use of deprecated SQLAlchemy options
        backend = MlflowClient(tracking_uri=portal.workbench.tracking_server.store.backend_uri)
        experiment = backend.create_experiment("elsewhere", artifact_location=outside.as_uri())
        run = backend.create_run(experiment)
    return {"experiment": experiment, "run": run.info.run_id}


@pytest.fixture(scope="module")
def run_id(portal: Portal) -> str:
    created = portal.post(f"{API}/runs/create", {"experiment_id": "0"})
    assert created.status_code == 200, created.text
    return str(created.json()["run"]["info"]["run_id"])


def refused(
    response: httpx.Response, reason: str = "", code: str = "INVALID_PARAMETER_VALUE"
) -> None:
    """Refused by the gateway, in MLflow's error format."""
    assert response.status_code in (400, 403), (response.status_code, response.text)
    body = response.json()
    assert body["error_code"] == code, body
    assert reason in body["message"], body


def nothing_outside(portal: Portal, outside: Path) -> None:
    assert not any(outside.iterdir()), list(outside.iterdir())
    workspace_files = {p for p in portal.workbench.workspace.root.rglob("*planted*")}
    assert not workspace_files, workspace_files


def post_raw(portal: Portal, path: str, content: str) -> httpx.Response:
    headers = {**portal.headers(), "Content-Type": "application/json"}
    return httpx.post(portal.url + path, content=content, headers=headers, timeout=60)


# -- experiments: the server chooses the artifact location ------------------------------------


@pytest.mark.parametrize("prefix", [API, AJAX])
@pytest.mark.parametrize("key", ["artifact_location", "artifactLocation"])
@pytest.mark.parametrize(
    "location",
    [
        "/tmp/planted",
        "file:///tmp/planted",
        "file://localhost/tmp/planted",
        "mlflow-artifacts:/../../planted",
        "mlflow-artifacts://evil.example/planted",
        "mlflow-artifacts:/0",
        "s3://bucket/planted",
        "%2Ftmp%2Fplanted",
    ],
)
def test_experiment_artifact_location_in_any_spelling(
    portal: Portal, prefix: str, key: str, location: str
) -> None:
    name = f"planted-{key}-{len(location)}-{prefix.count('ajax')}"
    response = portal.post(f"{prefix}/experiments/create", {"name": name, key: location})
    refused(response, "the server chooses it")
    found = portal.get(f"{API}/experiments/get-by-name", params={"experiment_name": name})
    assert found.status_code == 404, found.text


def test_experiment_location_both_spellings_and_json_in_a_string(
    portal: Portal, outside: Path
) -> None:
    both = {"name": "planted-both", "artifact_location": "", "artifactLocation": str(outside)}
    refused(portal.post(f"{API}/experiments/create", both), "artifactLocation")
    twice = json.dumps(json.dumps({"name": "planted-twice", "artifactLocation": str(outside)}))
    refused(post_raw(portal, f"{API}/experiments/create", twice), "artifactLocation")
    nothing_outside(portal, outside)


def test_misspelled_location_keys_choose_nothing(portal: Portal, outside: Path) -> None:
    """Keys MLflow's parser does not read pass through, and change nothing."""
    body = {"name": "spelled-wrong", "ARTIFACT_LOCATION": str(outside), "Artifact_Location": "/"}
    created = portal.post(f"{API}/experiments/create", body)
    assert created.status_code == 200, created.text
    experiment = portal.get(
        f"{API}/experiments/get", params={"experiment_id": created.json()["experiment_id"]}
    ).json()["experiment"]
    assert experiment["artifact_location"].startswith("mlflow-artifacts:/")


def test_workspace_artifact_roots_are_refused(portal: Portal) -> None:
    for key, value in (
        ("default_artifact_root", "/tmp/planted"),
        ("defaultArtifactRoot", "file:///tmp/planted"),
        ("traceArchivalConfig", {"location": "/tmp/planted"}),
        ("trace_archival_config", {"location": "s3://b/planted"}),
    ):
        body = {"name": "team", key: value}
        refused(portal.post("/mlflow/api/3.0/mlflow/workspaces", body), "the server chooses it")


# -- runs, logged models, uploads under an experiment that points elsewhere ---------------------


@pytest.mark.parametrize("key", ["experiment_id", "experimentId"])
def test_no_run_in_an_experiment_outside_the_store(
    portal: Portal, planted: dict[str, str], outside: Path, key: str
) -> None:
    response = portal.post(f"{API}/runs/create", {key: planted["experiment"]})
    refused(response, "outside the server's artifact store")
    response = portal.post(f"{API}/logged-models", {key: planted["experiment"], "name": "m"})
    refused(response, "outside the server's artifact store")
    nothing_outside(portal, outside)


def test_no_promptlab_run_in_an_experiment_outside_the_store(
    portal: Portal, planted: dict[str, str]
) -> None:
    body = {"experiment_id": planted["experiment"], "prompt_template": "x", "model_route": "r"}
    refused(portal.post(f"{AJAX}/runs/create-promptlab-run", body), "outside")


def test_no_upload_to_or_download_from_a_run_outside_the_store(
    portal: Portal, planted: dict[str, str], outside: Path
) -> None:
    run = planted["run"]
    response = httpx.post(
        f"{portal.url}{AJAX}/upload-artifact",
        params={"run_uuid": run, "path": "planted.txt"},
        content=b"x",
        headers=portal.headers(),
        timeout=60,
    )
    refused(response, "outside the server's artifact store")
    (outside / "secret.txt").write_text("not for you")
    try:
        status, text = raw_get(portal, f"/mlflow/get-artifact?path=secret.txt&run_uuid={run}")
        assert status == 403, text
        assert "not for you" not in text
        assert json.loads(text)["error_code"] == "PERMISSION_DENIED"
    finally:
        (outside / "secret.txt").unlink()
    nothing_outside(portal, outside)


def test_repeated_query_parameters_cannot_split_check_and_use(
    portal: Portal, planted: dict[str, str], run_id: str, outside: Path
) -> None:
    """MLflow (Flask) reads a repeated parameter's first value, Starlette its last: the
    gateway refuses the repetition instead of checking one value while MLflow uses another."""
    bad, good = planted["run"], run_id
    response = httpx.post(
        f"{portal.url}{AJAX}/upload-artifact?run_uuid={bad}&run_uuid={good}&path=planted.txt",
        content=b"x",
        headers=portal.headers(),
        timeout=60,
    )
    refused(response, "more than once")
    for target in (
        f"/mlflow/get-artifact?run_id={bad}&run_id={good}&path=secret.txt",
        f"/mlflow/get-artifact?run_uuid={good}&path=secret.txt&path=ok.txt",
        "/mlflow/model-versions/get-artifact?name=a&name=b&version=1&path=x",
    ):
        status, text = raw_get(portal, target)
        assert status == 400, (target, status, text)
        assert "more than once" in json.loads(text)["message"]
    nothing_outside(portal, outside)


def test_no_upload_or_delete_through_a_symlink_out_of_the_store(
    portal: Portal, outside: Path
) -> None:
    store = portal.artifacts
    store.mkdir(parents=True, exist_ok=True)
    (store / "exit").symlink_to(outside, target_is_directory=True)
    try:
        response = httpx.put(
            f"{portal.url}/mlflow/api/2.0/mlflow-artifacts/artifacts/exit/planted.txt",
            content=b"x",
            headers=portal.headers(),
            timeout=60,
        )
        refused(response, "outside the artifact store", code="PERMISSION_DENIED")
        (outside / "victim.txt").write_text("keep me")
        response = httpx.delete(
            f"{portal.url}/mlflow/api/2.0/mlflow-artifacts/artifacts/exit/victim.txt",
            headers=portal.headers(),
            timeout=60,
        )
        refused(response, "outside the artifact store", code="PERMISSION_DENIED")
        assert (outside / "victim.txt").read_text() == "keep me"
        (outside / "victim.txt").unlink()
    finally:
        (store / "exit").unlink()
    nothing_outside(portal, outside)


# -- model versions: sources under the store only -----------------------------------------------


@pytest.mark.parametrize("key", ["source"])
@pytest.mark.parametrize(
    "source",
    [
        "file:///etc",
        "/etc/passwd",
        "s3://bucket/elsewhere",
        "mlflow-artifacts://evil.example/x",
        "mlflow-artifacts:/0/%2e%2e/%2e%2e/etc",
        "runs://host/model",
        "runs:/abc/../../../etc",
        "models://host/m-1",
    ],
)
def test_model_version_sources_outside_the_store(portal: Portal, key: str, source: str) -> None:
    portal.post(f"{API}/registered-models/create", {"name": "sneaky"})
    refused(portal.post(f"{API}/model-versions/create", {"name": "sneaky", key: source}))


def test_model_version_from_a_run_outside_the_store(
    portal: Portal, planted: dict[str, str]
) -> None:
    portal.post(f"{API}/registered-models/create", {"name": "sneaky"})
    body = {"name": "sneaky", "source": f"runs:/{planted['run']}/model", "run_id": planted["run"]}
    refused(
        portal.post(f"{API}/model-versions/create", body), "outside the server's artifact store"
    )


# -- trace tags that MLflow turns into the trace's data location --------------------------------


@pytest.mark.parametrize("tag", ["mlflow.artifactLocation", "mlflow.trace.archiveLocation"])
def test_trace_location_tags_cannot_be_set(portal: Portal, tag: str, outside: Path) -> None:
    v3 = {
        "trace": {
            "traceInfo": {
                "traceId": "tr-planted",
                "traceLocation": {
                    "type": "MLFLOW_EXPERIMENT",
                    "mlflowExperiment": {"experimentId": "0"},
                },
                "requestTime": "2026-01-01T00:00:00Z",
                "state": "OK",
                "tags": {tag: outside.as_uri()},
            }
        }
    }
    refused(portal.post("/mlflow/api/3.0/mlflow/traces", v3), tag)
    v2 = {"experiment_id": "0", "timestamp_ms": 1, "tags": [{"key": tag, "value": "/etc"}]}
    refused(portal.post(f"{API}/traces", v2), tag)
    for version in ("2.0", "3.0"):
        url = f"{portal.url}/mlflow/api/{version}/mlflow/traces/tr-1/tags"
        patched = httpx.patch(
            url, json={"key": tag, "value": "/etc"}, headers=portal.headers(), timeout=60
        )
        refused(patched, tag)
        deleted = httpx.request(
            "DELETE", url, json={"key": tag}, headers=portal.headers(), timeout=60
        )
        refused(deleted, tag)


# -- query strings and GET bodies on artifact endpoints -----------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/mlflow/get-artifact?path=..%2F..%2Fetc%2Fpasswd&run_uuid={run}",
        "/mlflow/get-artifact?path=%2e%2e/%2e%2e/etc/passwd&run_id={run}",
        "/mlflow/get-artifact?path=file:///etc/passwd&run_uuid={run}",
        "/mlflow/model-versions/get-artifact?path=../../../etc/passwd&name=m&version=1",
        "/mlflow/ajax-api/2.0/mlflow/get-trace-artifact?request_id=tr-1&path=../../etc/passwd",
        "/mlflow/ajax-api/3.0/mlflow/get-trace-artifact?request_id=tr-1&path=/etc/passwd",
        "/mlflow/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=../../x",
        "/mlflow/api/2.0/mlflow/logged-models/m-1/artifacts/directories?artifact_directory_path=/etc",
        "/mlflow/api/2.0/mlflow/artifacts/list?run_id={run}&path=../../..",
        "/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts?path=../../..",
        "/mlflow/api/2.0/mlflow/artifacts/list?run_id={run}&path=ok&path=%252e%252e",
    ],
)
def test_query_string_locations(portal: Portal, run_id: str, target: str) -> None:
    status, text = raw_get(portal, target.format(run=run_id))
    assert status == 400, (status, text)
    assert json.loads(text)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_get_with_a_json_body_instead_of_a_query(portal: Portal, run_id: str) -> None:
    """MLflow reads a GET's JSON body when it has no query string; so does the guard."""
    for path in (f"{API}/artifacts/list", "/mlflow/api/2.0/mlflow-artifacts/artifacts"):
        response = httpx.request(
            "GET",
            portal.url + path,
            json={"run_id": run_id, "path": "../../../"},
            headers=portal.headers(),
            timeout=60,
        )
        refused(response, "'..' segment")


def test_upload_paths_stay_in_the_run(portal: Portal, run_id: str, outside: Path) -> None:
    for path in ("../../planted.txt", "/tmp/planted.txt", "a/%2e%2e/%2e%2e/planted.txt"):
        response = httpx.post(
            f"{portal.url}{AJAX}/upload-artifact",
            params={"run_uuid": run_id, "path": path},
            content=b"x",
            headers=portal.headers(),
            timeout=60,
        )
        refused(response)
    nothing_outside(portal, outside)


# -- errors in MLflow's format, shown by MLflow's own client ------------------------------------


def test_errors_use_mlflows_format(portal: Portal) -> None:
    anonymous = httpx.get(f"{portal.url}{API}/experiments/search?max_results=1")
    assert anonymous.status_code == 401
    assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
    viewer = portal.get(f"{API}/experiments/search?max_results=1", role="viewer")
    assert viewer.status_code == 403
    assert viewer.json()["error_code"] == "PERMISSION_DENIED"
    assert "viewer" in viewer.json()["message"]
    assistant = portal.get("/mlflow/ajax-api/3.0/mlflow/assistant/config")
    assert assistant.status_code == 404
    assert assistant.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_mlflow_client_shows_the_refusal(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, outside: Path
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", portal.tokens["scientist"])
    client = MlflowClient(tracking_uri=f"{portal.url}/mlflow")
    with pytest.raises(MlflowException) as caught:
        client.create_experiment("planted-client", artifact_location=str(outside))
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "the server chooses it" in caught.value.message
    nothing_outside(portal, outside)
