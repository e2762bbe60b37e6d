"""Production aliases are protected: ``churn@champion``, which app ``churn`` serves.

bob (a scientist outside project churn) and carol (a member) try to move or remove it through
the API, the portal's form, the CLI and the MLflow gateway, and to delete the version or the
model it points at: all refused, nothing changed. alice (the model's owner) and root (an admin)
may, and every move is audited with why the alias is protected. One server for the module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atelier.services.apps import Apps
from tests.security.team import API, PROJECT, Team, start_team

MODEL = "churn"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    with start_team(tmp_path_factory.mktemp("aliases")) as team:
        experiment = team.post("alice", "experiments/create", {"name": PROJECT})
        experiment_id = experiment.json()["experiment_id"]
        for number in (1, 2):
            run = team.post("alice", "runs/create", {"experiment_id": experiment_id})
            run_id = run.json()["run"]["info"]["run_id"]
            with team.mlflow("alice") as client:
                client.create_logged_model(experiment_id, source_run_id=run_id, name="model")
            body = {"run_id": run_id, "name": MODEL}
            if number == 1:
                body["alias"] = "champion"
            created = team.call("alice", "POST", "/api/v1/models", body)
            assert created.status_code == 201, created.text
        Apps(team.workbench.db).create("churn", "model", owner="alice", model="churn@champion")
        yield team


def champion(team: Team) -> int:
    model = team.get("root", "registered-models/get", name=MODEL)["registered_model"]
    aliases = {a["alias"]: int(a["version"]) for a in model.get("aliases", [])}
    return aliases["champion"]


def cli(team: Team, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_"))}
    env["ATELIER_WORKSPACE"] = str(team.workbench.workspace.root)
    env["ATELIER_TOKEN"] = team.tokens[user]
    return subprocess.run(
        [sys.executable, "-m", "atelier", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def portal_form(team: Team, user: str, **form: str) -> httpx.Response:
    with httpx.Client(base_url=team.url, timeout=60) as browser:
        code = team.workbench.sessions.create_link(user)
        assert browser.get(f"/login/link?code={code}").status_code in (200, 303)
        page = browser.get(f"/models/{MODEL}")
        assert page.status_code == 200, page.text
        assert 'data-testid="alias-form"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        return browser.post(
            f"/models/{MODEL}/aliases",
            data={"csrf_token": csrf.group(1), **form},
            follow_redirects=False,
        )


def _refused(response: Any, who: str) -> None:
    assert response.status_code == 403, response.text
    assert f"{who} may not" in response.text
    assert "app churn serves churn@champion" in response.text


def test_scientists_cannot_move_or_remove_an_alias_an_app_serves(team: Team) -> None:
    before = champion(team)
    for who in ("bob", "carol"):
        _refused(
            team.call(who, "PUT", f"/api/v1/models/{MODEL}/aliases/champion", {"version": 2}), who
        )
        _refused(team.call(who, "DELETE", f"/api/v1/models/{MODEL}/aliases/champion"), who)
        _refused(portal_form(team, who, alias="champion", version="2"), who)
        _refused(portal_form(team, who, alias="champion", version="1", remove="1"), who)
        gateway = [
            (
                "POST",
                "registered-models/alias",
                {"name": MODEL, "alias": "champion", "version": "2"},
            ),
            ("DELETE", "registered-models/alias", {"name": MODEL, "alias": "champion"}),
            ("DELETE", "model-versions/delete", {"name": MODEL, "version": str(before)}),
            ("DELETE", "registered-models/delete", {"name": MODEL}),
            ("POST", "registered-models/rename", {"name": MODEL, "new_name": "churn2"}),
        ]
        for method, endpoint, body in gateway:
            response = team.call(who, method, f"{API}/{endpoint}", body)
            assert response.status_code == 403, (who, endpoint, response.text)
            assert response.json()["error_code"] == "PERMISSION_DENIED"
        with team.mlflow(who) as client:
            from mlflow.exceptions import MlflowException

            with pytest.raises(MlflowException, match="app churn serves churn@champion"):
                client.set_registered_model_alias(MODEL, "champion", "2")
    for args in (("alias", MODEL, "champion", "2"), ("alias", MODEL, "champion", "--remove")):
        done = cli(team, "bob", "models", *args)
        assert done.returncode != 0
        assert "bob may not" in done.stderr and "app churn serves churn@champion" in done.stderr
    assert champion(team) == before
    assert (
        len(team.get("root", "model-versions/search", filter=f"name='{MODEL}'")["model_versions"])
        == 2
    )
    assert [e.actor for e in team.audit("model.alias")] == []


def test_project_members_move_unprotected_aliases(team: Team) -> None:
    moved = team.call("carol", "PUT", f"/api/v1/models/{MODEL}/aliases/challenger", {"version": 2})
    assert moved.status_code == 200, moved.text
    refused = team.call("bob", "PUT", f"/api/v1/models/{MODEL}/aliases/challenger", {"version": 1})
    assert refused.status_code == 403
    assert "bob may not move churn@challenger" in refused.json()["detail"]


def test_the_owner_and_admins_move_it_and_it_is_audited(team: Team) -> None:
    moved = team.call("alice", "PUT", f"/api/v1/models/{MODEL}/aliases/champion", {"version": 2})
    assert moved.status_code == 200, moved.text
    assert champion(team) == 2
    entry = team.audit("model.alias")[0]
    assert (entry.actor, entry.target) == ("alice", "churn@champion")
    assert entry.detail["version"] == 2 and entry.detail["previous"] == 1
    assert "app churn serves churn@champion" in entry.detail["protected"]

    response = portal_form(team, "alice", alias="champion", version="1")
    assert response.status_code == 303, response.text
    assert champion(team) == 1

    gateway = team.call(
        "root",
        "POST",
        f"{API}/registered-models/alias",
        {"name": MODEL, "alias": "champion", "version": "2"},
    )
    assert gateway.status_code == 200, gateway.text
    assert champion(team) == 2
    entry = team.audit("model.alias")[0]
    assert (entry.actor, entry.target) == ("root", "churn@champion")
    assert entry.detail["via"] == "mlflow" and entry.detail["protected"]

    done = cli(team, "alice", "models", "alias", MODEL, "champion", "1")
    assert done.returncode == 0, done.stderr
    assert champion(team) == 1
    entry = team.audit("model.alias")[0]
    assert (entry.actor, entry.client) == ("alice", "cli")


def test_registration_is_audited_by_the_service(team: Team) -> None:
    registered = team.audit("model.register")
    assert [(e.actor, e.target) for e in reversed(registered)][:2] == [
        ("alice", "churn/1"),
        ("alice", "churn/2"),
    ]
    assert registered[-1].detail["alias"] == "champion"


def test_a_deleted_models_name_is_not_taken_over(team: Team) -> None:
    """An app serves ``gone@champion`` whose model was deleted: another scientist making a model
    of that name (created, registered or renamed to it) would take the app over."""
    Apps(team.workbench.db).create("orphan", "model", owner="alice", model="gone@champion")
    experiment = team.post("bob", "experiments/create", {"name": "bobs"}).json()["experiment_id"]
    run_id = team.post("bob", "runs/create", {"experiment_id": experiment}).json()["run"]["info"][
        "run_id"
    ]
    with team.mlflow("bob") as client:
        client.create_logged_model(experiment, source_run_id=run_id, name="model")
    assert team.post("bob", "registered-models/create", {"name": "bobs-model"}).status_code == 200
    attempts = [
        team.post("bob", "registered-models/create", {"name": "gone"}),
        team.post("bob", "registered-models/rename", {"name": "bobs-model", "new_name": "gone"}),
        team.call("bob", "POST", "/api/v1/models", {"run_id": run_id, "name": "gone"}),
    ]
    for refused in attempts:
        assert refused.status_code == 403, refused.text
        assert "app orphan serve" in refused.text
    missing = team.call("root", "GET", f"{API}/registered-models/get", params={"name": "gone"})
    assert missing.status_code == 404
    renamed = team.post(
        "bob", "experiments/update", {"experiment_id": experiment, "new_name": PROJECT + "x"}
    )
    assert renamed.status_code == 200, renamed.text
