"""Runs, experiments and models have owners: bob attacks alice's through the real gateway.

Every write bob tries on alice's experiment, runs, logged model and registered model (raw HTTP
in several spellings, both API prefixes, the artifact routes, and MLflow's own client) is
refused and leaves nothing changed; carol (alice's project) and root (an admin) may write;
everyone reads; the attribution tags cannot be changed by anyone. One server for the module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.security.team import AJAX, API, PROJECT, Team, start_team


@dataclass
class Objects:
    experiment: str  # alice's own experiment (no project)
    run: str  # alice's run in it
    project_experiment: str  # experiment "churn": project churn
    project_run: str  # alice's run there
    default_run: str  # alice's run in the open Default experiment
    model: str  # alice's registered model (version 1, alias staging)
    logged_model: str  # alice's logged model in her experiment
    bobs_run: str  # bob's own run in the Default experiment


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    with start_team(tmp_path_factory.mktemp("owners")) as team:
        yield team


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _run(team: Team, user: str, experiment: str) -> str:
    created = _ok(team.post(user, "runs/create", {"experiment_id": experiment}))
    run_id: str = created["run"]["info"]["run_id"]
    return run_id


@pytest.fixture(scope="module")
def objects(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Objects:
    experiment = _ok(team.post("alice", "experiments/create", {"name": "alice-exp"}))[
        "experiment_id"
    ]
    run = _run(team, "alice", experiment)
    _ok(team.post("alice", "runs/log-parameter", {"run_id": run, "key": "p", "value": "1"}))
    _ok(
        team.post(
            "alice", "runs/log-metric", {"run_id": run, "key": "m", "value": 1.0, "timestamp": 1}
        )
    )
    _ok(team.post("alice", "runs/set-tag", {"run_id": run, "key": "note", "value": "mine"}))
    folder = tmp_path_factory.mktemp("files")
    (folder / "a.txt").write_text("alice's file")
    with team.mlflow("alice") as client:
        import mlflow

        client.log_artifact(run, str(folder / "a.txt"))
        logged = client.create_logged_model(experiment, source_run_id=run, name="m")
        mlflow.genai.register_prompt(name="alice-prompt", template="Hello {{name}}!")
    project_experiment = _ok(team.post("alice", "experiments/create", {"name": PROJECT}))[
        "experiment_id"
    ]
    _ok(team.post("alice", "registered-models/create", {"name": "alice-model"}))
    _ok(
        team.post(
            "alice",
            "model-versions/create",
            {"name": "alice-model", "source": f"runs:/{run}/model", "run_id": run},
        )
    )
    _ok(
        team.post(
            "alice",
            "registered-models/alias",
            {"name": "alice-model", "alias": "staging", "version": "1"},
        )
    )
    return Objects(
        experiment=experiment,
        run=run,
        project_experiment=project_experiment,
        project_run=_run(team, "alice", project_experiment),
        default_run=_run(team, "alice", "0"),
        model="alice-model",
        logged_model=logged.model_id,
        bobs_run=_run(team, "bob", "0"),
    )


def snapshot(team: Team, o: Objects) -> dict[str, Any]:
    """Everything bob's attacks could change, as root sees it."""
    runs = {}
    for run_id in (o.run, o.project_run, o.default_run):
        run = team.get("root", "runs/get", run_id=run_id)["run"]
        runs[run_id] = {
            "info": {k: run["info"].get(k) for k in ("status", "lifecycle_stage", "run_name")},
            "data": run["data"],
        }
    files = sorted(
        str(p.relative_to(team.artifacts)) + ":" + p.read_text(errors="replace")
        for p in team.artifacts.rglob("*")
        if p.is_file()
    )
    experiments = [
        team.get("root", "experiments/get", experiment_id=e)["experiment"]
        for e in (o.experiment, o.project_experiment, "0")
    ]
    model = team.get("root", "registered-models/get", name=o.model)["registered_model"]
    model.pop("last_updated_timestamp", None)
    versions = team.get("root", "model-versions/search", filter=f"name='{o.model}'")
    logged = team.call("root", "GET", f"{API}/logged-models/{o.logged_model}").json()
    return {
        "runs": runs,
        "files": files,
        "experiments": experiments,
        "model": model,
        "versions": versions,
        "logged": logged,
    }


def attacks(o: Objects) -> list[tuple[str, str, Any]]:
    """``(method, path, JSON body or raw bytes)``: each a write to something of alice's."""
    r, e, m, lm = o.run, o.experiment, o.model, o.logged_model
    metric = {"key": "m", "value": 9.0, "timestamp": 2}
    arts = "/mlflow/api/2.0/mlflow-artifacts"
    return [
        # runs, every spelling of the run id, both prefixes and API versions
        ("POST", f"{API}/runs/log-metric", {"run_id": r, **metric}),
        ("POST", f"{API}/runs/log-metric", {"runId": r, **metric}),
        ("POST", f"{API}/runs/log-metric", {"run_uuid": r, **metric}),
        ("POST", f"{AJAX}/runs/log-metric", {"runUuid": r, **metric}),
        ("POST", f"{API}/runs/log-metric", {"run_id": o.bobs_run, "run_uuid": r, **metric}),
        ("POST", "/mlflow/api/3.0/mlflow/runs/log-metric", {"run_id": r, **metric}),
        ("POST", f"{API}/runs/log-parameter", {"run_id": r, "key": "p2", "value": "x"}),
        ("POST", f"{API}/runs/log-batch", {"run_id": r, "metrics": [metric]}),
        ("POST", f"{AJAX}/runs/log-batch", {"runId": r, "params": [{"key": "q", "value": "1"}]}),
        (
            "POST",
            f"{API}/runs/log-batch",
            json.dumps(json.dumps({"run_id": r, "metrics": [metric]})),
        ),
        ("POST", f"{API}/runs/set-tag", {"run_id": r, "key": "note", "value": "bob"}),
        ("POST", f"{API}/runs/set-tag", {"run_uuid": r, "key": "mlflow.user", "value": "bob"}),
        ("POST", f"{API}/runs/delete-tag", {"run_id": r, "key": "mlflow.user"}),
        ("POST", f"{API}/runs/delete-tag", {"runId": r, "key": "note"}),
        ("POST", f"{API}/runs/update", {"run_id": r, "status": "FAILED"}),
        ("POST", f"{AJAX}/runs/update", {"runUuid": r, "run_name": "pwned"}),
        ("POST", f"{API}/runs/delete", {"run_id": r}),
        ("POST", f"{AJAX}/runs/delete", {"runId": r}),
        ("POST", f"{API}/runs/delete", {"run_id": o.default_run}),
        ("POST", f"{API}/runs/log-inputs", {"run_id": r, "datasets": []}),
        ("POST", f"{API}/runs/outputs", {"run_id": o.bobs_run, "models": [{"model_id": lm}]}),
        ("POST", f"{API}/runs/log-metric", {"run_id": o.bobs_run, "model_id": lm, **metric}),
        # artifacts of alice's run: upload, overwrite, delete, multipart, the UI's upload
        ("PUT", f"{arts}/artifacts/{e}/{r}/artifacts/a.txt", b"bob was here"),
        ("PUT", f"{arts}/artifacts/{e}/{r}/artifacts/new.txt", b"bob was here"),
        ("DELETE", f"{arts}/artifacts/{e}/{r}/artifacts/a.txt", None),
        ("PUT", f"{arts}/artifacts/{e}/planted.txt", b"bob was here"),
        ("PUT", f"{arts}/artifacts/{e}/models/{lm}/artifacts/MLmodel", b"bob was here"),
        (
            "POST",
            f"{arts}/mpu/create/{e}/{r}/artifacts/big.bin",
            {"path": "big.bin", "num_parts": 1},
        ),
        ("POST", f"{AJAX}/upload-artifact?run_uuid={r}&path=x.txt", b"bob was here"),
        ("POST", f"{AJAX}/upload-artifact?run_uuid={r}&run_uuid={o.bobs_run}&path=x.txt", b"b"),
        ("POST", f"{AJAX}/upload-artifact?run_uuid={o.bobs_run}&run_uuid={r}&path=x.txt", b"b"),
        ("POST", f"{API}/artifacts/presigned-upload-url", {"run_id": r, "path": "x.txt"}),
        # alice's experiment
        ("POST", f"{API}/experiments/delete", {"experiment_id": e}),
        ("POST", f"{AJAX}/experiments/update", {"experimentId": e, "new_name": "pwned"}),
        (
            "POST",
            f"{API}/experiments/set-experiment-tag",
            {"experiment_id": e, "key": "k", "value": "v"},
        ),
        (
            "POST",
            f"{API}/experiments/delete-experiment-tag",
            {"experiment_id": e, "key": "atelier.owner"},
        ),
        ("POST", f"{API}/experiments/delete", {"experiment_id": "0"}),
        ("POST", f"{API}/runs/create", {"experiment_id": e}),
        ("POST", f"{API}/runs/create", {"experimentId": e}),
        ("POST", f"{API}/logged-models", {"experiment_id": e, "name": "x"}),
        ("POST", f"{API}/traces", {"experiment_id": e, "timestamp_ms": 1}),
        (
            "POST",
            f"{API}/scorers/register",
            {"experiment_id": e, "name": "s", "serialized_scorer": "{}"},
        ),
        # alice's logged model
        ("PATCH", f"{API}/logged-models/{lm}", {"model_id": lm, "status": "LOGGED_MODEL_READY"}),
        ("DELETE", f"{API}/logged-models/{lm}", None),
        ("PATCH", f"{API}/logged-models/{lm}/tags", {"tags": [{"key": "k", "value": "v"}]}),
        ("POST", f"{API}/logged-models/{lm}/params", {"params": [{"key": "k", "value": "v"}]}),
        # alice's registered model, its versions and aliases
        ("PATCH", f"{API}/registered-models/update", {"name": m, "description": "pwned"}),
        ("POST", f"{API}/registered-models/rename", {"name": m, "new_name": "bobs"}),
        ("POST", f"{AJAX}/registered-models/set-tag", {"name": m, "key": "k", "value": "v"}),
        (
            "DELETE",
            f"{API}/registered-models/delete-tag",
            {"name": m, "key": "atelier.registered_by"},
        ),
        ("POST", f"{API}/registered-models/alias", {"name": m, "alias": "staging", "version": "1"}),
        ("POST", f"{API}/registered-models/alias", {"name": m, "alias": "mine", "version": "1"}),
        ("DELETE", f"{API}/registered-models/alias", {"name": m, "alias": "staging"}),
        ("DELETE", f"{API}/registered-models/delete", {"name": m}),
        ("DELETE", f"{API}/model-versions/delete", {"name": m, "version": "1"}),
        ("PATCH", f"{API}/model-versions/update", {"name": m, "version": "1", "description": "x"}),
        (
            "POST",
            f"{API}/model-versions/set-tag",
            {"name": m, "version": "1", "key": "k", "value": "v"},
        ),
        (
            "POST",
            f"{API}/model-versions/transition-stage",
            {"name": m, "version": "1", "stage": "Archived"},
        ),
        (
            "POST",
            f"{API}/model-versions/create",
            {"name": m, "source": f"runs:/{o.bobs_run}/model", "run_id": o.bobs_run},
        ),
        # endpoints not in the gateway's table are for admins
        ("POST", f"{API}/webhooks", {"name": "w", "url": "http://127.0.0.1:1/", "events": []}),
        ("POST", "/mlflow/api/3.0/mlflow/gateway/secrets/create", {"secret_name": "s"}),
        ("POST", "/mlflow/graphql", {"query": "mutation { testMutation(input: {}) { output } }"}),
    ]


def _send(team: Team, user: str, method: str, path: str, body: Any) -> Any:
    if isinstance(body, bytes | str):
        headers = {**team.headers(user), "Content-Type": "application/json"}
        import httpx

        return httpx.request(method, team.url + path, content=body, headers=headers, timeout=60)
    return team.call(user, method, path, body)


def test_every_write_to_another_scientists_objects_is_refused_and_changes_nothing(
    team: Team, objects: Objects
) -> None:
    before = snapshot(team, objects)
    let_through = []
    for method, path, body in attacks(objects):
        response = _send(team, "bob", method, path, body)
        if path.count("run_uuid=") > 1 and response.status_code == 400:
            continue  # the path guard refuses a repeated parameter before any owner check
        if response.status_code != 403:
            let_through.append((method, path, body, response.status_code, response.text[:200]))
            continue
        refusal = response.json()
        assert refusal["error_code"] == "PERMISSION_DENIED", refusal
        assert "bob may not" in refusal["message"], refusal
    assert let_through == []
    assert snapshot(team, objects) == before


def test_mlflow_client_reports_the_refusal(team: Team, objects: Objects, tmp_path: Path) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException
    from requests import HTTPError

    note = tmp_path / "b.txt"
    note.write_text("bob")
    with team.mlflow("bob") as client:
        attempts = [
            lambda: client.log_metric(objects.run, "m", 5.0),
            lambda: client.log_param(objects.run, "bob", "1"),
            lambda: client.set_tag(objects.run, "note", "bob"),
            lambda: client.delete_tag(objects.run, "mlflow.user"),
            lambda: client.log_artifact(objects.run, str(note)),
            lambda: client.delete_run(objects.run),
            lambda: client.restore_run(objects.run),
            lambda: client.set_terminated(objects.run, "FAILED"),
            lambda: client.delete_experiment(objects.experiment),
            lambda: client.rename_experiment(objects.experiment, "pwned"),
            lambda: client.update_registered_model(objects.model, "pwned"),
            lambda: client.rename_registered_model(objects.model, "bobs"),
            lambda: client.set_registered_model_alias(objects.model, "staging", "1"),
            lambda: client.delete_registered_model_alias(objects.model, "staging"),
            lambda: client.delete_model_version(objects.model, "1"),
            lambda: client.create_model_version(
                objects.model, f"runs:/{objects.bobs_run}/model", objects.bobs_run
            ),
            # prompts are registered models too
            lambda: mlflow.genai.register_prompt(name="alice-prompt", template="Bye {{name}}"),
            lambda: mlflow.genai.set_prompt_alias("alice-prompt", alias="live", version=1),
        ]
        for attempt in attempts:
            # MLflow's client raises HTTPError for artifact uploads, MlflowException otherwise.
            with pytest.raises((MlflowException, HTTPError), match="bob may not") as refused:
                attempt()
            if isinstance(refused.value, MlflowException):
                assert refused.value.error_code == "PERMISSION_DENIED"
        prompt = mlflow.genai.load_prompt("prompts:/alice-prompt/1")
        assert prompt.template == "Hello {{name}}!"
        assert [v.version for v in client.search_prompt_versions("alice-prompt")] == [1]


def test_everyone_reads(team: Team, objects: Objects) -> None:
    run = team.get("bob", "runs/get", run_id=objects.run)["run"]
    assert run["data"]["tags"]
    found = _ok(team.post("bob", "runs/search", {"experiment_ids": [objects.experiment]}))
    assert [r["info"]["run_id"] for r in found["runs"]] == [objects.run]
    assert team.get("bob", "registered-models/get", name=objects.model)
    path = f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{objects.experiment}/{objects.run}"
    file = team.call("bob", "GET", f"{path}/artifacts/a.txt")
    assert (file.status_code, file.text) == (200, "alice's file")
    query = _ok(team.call("bob", "POST", "/mlflow/graphql", {"query": "{ __typename }"}))
    assert query["data"] == {"__typename": "Query"}


def test_project_members_write_the_projects_runs_only(team: Team, objects: Objects) -> None:
    experiment = team.get("root", "experiments/get", experiment_id=objects.project_experiment)
    tags = {t["key"]: t["value"] for t in experiment["experiment"]["tags"]}
    assert (tags["atelier.owner"], tags["atelier.project"]) == ("alice", PROJECT)
    metric = {"key": "carol", "value": 1.0, "timestamp": 3}
    _ok(team.post("carol", "runs/log-metric", {"run_id": objects.project_run, **metric}))
    _ok(
        team.post(
            "carol", "runs/set-tag", {"run_id": objects.project_run, "key": "k", "value": "v"}
        )
    )
    _run(team, "carol", objects.project_experiment)  # runs in the project's experiment
    refused = team.post("carol", "runs/log-metric", {"run_id": objects.run, **metric})
    assert refused.status_code == 403, refused.text
    refused = team.post("bob", "runs/log-metric", {"run_id": objects.project_run, **metric})
    assert refused.status_code == 403, refused.text
    refused = team.post("bob", "runs/create", {"experiment_id": objects.project_experiment})
    assert refused.status_code == 403
    assert "project churn" in refused.json()["message"]


def test_projects_are_joined_by_members_only(team: Team) -> None:
    forged = {"name": "bobs-exp", "tags": [{"key": "atelier.project", "value": PROJECT}]}
    refused = team.post("bob", "experiments/create", forged)
    assert refused.status_code == 403, refused.text
    assert "project churn" in refused.json()["message"]
    named = team.post("bob", "experiments/create", {"name": PROJECT + "-not"})
    assert named.status_code == 200
    # nor by renaming an experiment of one's own to the project's name
    body = {"experiment_id": named.json()["experiment_id"], "new_name": PROJECT}
    refused = team.post("bob", "experiments/update", body)
    assert refused.status_code == 403, refused.text
    refused = team.post(
        "bob",
        "registered-models/create",
        {"name": "bobs-model", "tags": [{"key": "atelier.project", "value": PROJECT}]},
    )
    assert refused.status_code == 403


def test_owner_tags_are_forced_at_creation(team: Team) -> None:
    forged = {"name": "forged", "tags": [{"key": "atelier.owner", "value": "alice"}]}
    experiment_id = _ok(team.post("bob", "experiments/create", forged))["experiment_id"]
    experiment = team.get("bob", "experiments/get", experiment_id=experiment_id)["experiment"]
    tags = {t["key"]: t["value"] for t in experiment["tags"]}
    assert tags["atelier.owner"] == "bob"
    assert "atelier.project" not in tags
    created = _ok(team.post("bob", "runs/create", {"experiment_id": experiment_id, "userId": "x"}))
    assert created["run"]["info"]["user_id"] == "bob"


def test_the_owner_and_admins_write_but_attribution_is_fixed(team: Team, objects: Objects) -> None:
    _ok(team.post("alice", "runs/set-tag", {"run_id": objects.run, "key": "k", "value": "1"}))
    _ok(team.post("root", "runs/set-tag", {"run_id": objects.run, "key": "k", "value": "2"}))
    _ok(
        team.call(
            "root",
            "PATCH",
            f"{API}/registered-models/update",
            {"name": objects.model, "description": "by root"},
        )
    )
    fixed = [
        ("alice", "runs/delete-tag", {"run_id": objects.run, "key": "mlflow.user"}),
        ("root", "runs/delete-tag", {"run_id": objects.run, "key": "mlflow.user"}),
        ("root", "runs/set-tag", {"runId": objects.run, "key": "mlflow.user", "value": "root"}),
        (
            "alice",
            "runs/log-batch",
            {"run_id": objects.run, "tags": [{"key": "mlflow.user", "value": "alice"}]},
        ),
        (
            "root",
            "experiments/set-experiment-tag",
            {"experiment_id": objects.experiment, "key": "atelier.owner", "value": "root"},
        ),
        (
            "alice",
            "experiments/set-experiment-tag",
            {"experiment_id": objects.experiment, "key": "atelier.project", "value": PROJECT},
        ),
        (
            "root",
            "registered-models/set-tag",
            {"name": objects.model, "key": "atelier.registered_by", "value": "root"},
        ),
        (
            "alice",
            "model-versions/set-tag",
            {"name": objects.model, "version": "1", "key": "atelier.registered_by", "value": "x"},
        ),
    ]
    for user, endpoint, body in fixed:
        refused = team.post(user, endpoint, body)
        assert refused.status_code == 403, (user, endpoint, refused.text)
        assert "records who made" in refused.json()["message"]
    run = team.get("bob", "runs/get", run_id=objects.run)["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert (tags["mlflow.user"], tags["k"]) == ("alice", "2")


def test_the_default_experiment_is_open_for_runs_not_for_changes(
    team: Team, objects: Objects
) -> None:
    own = _run(team, "bob", "0")
    _ok(
        team.post("bob", "runs/log-metric", {"run_id": own, "key": "x", "value": 1, "timestamp": 1})
    )
    _ok(team.post("bob", "runs/delete", {"run_id": own}))
    refused = team.post("bob", "experiments/update", {"experiment_id": "0", "new_name": "mine"})
    assert refused.status_code == 403
    _ok(
        team.post(
            "root",
            "experiments/set-experiment-tag",
            {"experiment_id": "0", "key": "k", "value": "v"},
        )
    )
