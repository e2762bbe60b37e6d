"""The run page and "Register this model" from it, in-process with a real MLflow store.

A run is logged as a training script logs one (MLflow's own client): metrics over steps, a
model, a lock, lineage and personal-data tags; then its page is read, and registering its model
is tried by its owner, another scientist, a viewer, for an unknown run and with a bad name.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atelier.config import Workspace, init_workspace
from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]

LOCK = 'version = 1\n\n[[package]]\nname = "scikit-learn"\nversion = "1.6.0"\n'


def log_training_run(tracking_uri: str, artifacts: Path, *, user: str, steps: int = 5) -> str:
    """A run of experiment ``churn`` owned by ``user``: ``loss`` over ``steps`` steps, a
    logistic regression logged as ``model``, lineage, personal data and a lock. Its id."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from atelier.services.features.lineage import run_tags
    from atelier.services.tracking.registry import mlflow_client
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    client = mlflow_client(tracking_uri)
    found = client.get_experiment_by_name("churn")
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment("churn", artifact_location=str(artifacts))
    )
    x = np.arange(40, dtype=float).reshape(20, 2)
    y = (x[:, 0] > 20).astype(int)
    tags = run_tags(
        {
            "feature_views": {"customer_stats": 3},
            "training_set": "ml.churn_train",
            "training_set_version": 4,
        }
    ) | {"mlflow.user": user, "atelier.pii": '{"email": "email"}', "atelier.python": "3.11.9"}
    with kept_mlflow_uris(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            mlflow.log_param("C", "1.0")
            for step in range(steps):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("accuracy", 0.9)
            mlflow.log_text(LOCK, "atelier.lock")
            mlflow.sklearn.log_model(
                LogisticRegression().fit(x, y), name="model", pip_requirements=["scikit-learn"]
            )
            # Set last: with capture on in this process (another test may have turned it on),
            # logging the model records the interpreter that runs the tests.
            mlflow.set_tag("atelier.python", "3.11.9")
    return str(run.info.run_id)


@dataclass
class Portal:
    client: TestClient
    workbench: Workbench
    experiment_id: str
    ada_run: str
    bob_run: str

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.workbench.tokens.create(name, 'test', 1)[1]}"}


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    from atelier.services.tracking import TrackingStore

    root, _ = init_workspace(tmp_path_factory.mktemp("run-page") / "ws")
    workspace = Workspace.open(root, environ={})
    store = TrackingStore.for_workspace(workspace)
    store.prepare()
    ada_run = log_training_run(store.backend_uri, store.artifacts_dir / "churn", user="ada")
    bob_run = log_training_run(store.backend_uri, store.artifacts_dir / "churn", user="bob")
    workbench = Workbench(workspace)
    workbench.users.create("ada", "scientist", PASSWORD)
    workbench.users.create("bob", "scientist", PASSWORD)
    workbench.users.create("root", "admin", PASSWORD)
    workbench.users.create("vic", "viewer", PASSWORD)
    experiment_id = workbench.models.client.get_experiment_by_name("churn").experiment_id
    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
        yield Portal(client, workbench, experiment_id, ada_run, bob_run)
    workbench.close()


def section(page: str, testid: str, size: int = 4000) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : start + size]


def test_the_run_page_shows_what_the_run_holds(portal: Portal) -> None:
    url = f"/experiments/{portal.experiment_id}/runs/{portal.ada_run}"
    page = portal.client.get(url, headers=portal.as_("ada"))
    assert page.status_code == 200, page.text
    text = page.text
    assert "<h1>Run " in text and f'data-testid="run-id">{portal.ada_run}<' in text
    assert '<th scope="row">C</th><td>1.0</td>' in section(text, "run-params")
    metrics = section(text, "run-metrics")
    assert '<th scope="row">loss</th><td class="num">0.2</td><td class="num">5</td>' in metrics
    # One chart per metric with several steps: its spec holds the history, step by step.
    charts = section(text, "metric-charts", 6000)
    assert charts.count('class="vl-spec"') == 1
    spec = charts[charts.index('class="vl-spec"') :]
    spec = spec[spec.index(">") + 1 : spec.index("</script>")]
    import json

    values = json.loads(spec)["data"]["values"]
    assert [v["step"] for v in values] == [0, 1, 2, 3, 4]
    assert values[-1]["value"] == pytest.approx(0.2)
    lineage = section(text, "run-lineage")
    assert "<code>ml.churn_train</code></a> at version 4" in lineage
    assert '<a href="/features/customer_stats">customer_stats</a> version 3' in lineage
    environment = section(text, "run-environment")
    import hashlib

    assert hashlib.sha256(LOCK.encode()).hexdigest()[:16] in environment
    assert "3.11.9" in environment
    assert "<code>email</code> (email)" in section(text, "run-personal-data")
    artifacts = section(text, "run-artifacts")
    assert f"/mlflow/get-artifact?path=atelier.lock&amp;run_uuid={portal.ada_run}" in artifacts
    # The download goes through the portal's authenticated MLflow route.
    served = portal.client.get(
        f"/mlflow/get-artifact?path=atelier.lock&run_uuid={portal.ada_run}",
        headers=portal.as_("ada"),
    )
    assert served.status_code == 200 and served.text == LOCK
    assert 'data-testid="register-model"' in text and 'name="name"' in text


def test_experiment_and_compare_link_runs_to_their_page(portal: Portal) -> None:
    ada = portal.as_("ada")
    runs = portal.client.get(f"/experiments/{portal.experiment_id}", headers=ada).text
    assert f'href="/experiments/{portal.experiment_id}/runs/{portal.ada_run}"' in runs
    compared = portal.client.get(
        f"/experiments/compare?runs={portal.ada_run},{portal.bob_run}", headers=ada
    ).text
    assert f'href="/experiments/{portal.experiment_id}/runs/{portal.bob_run}"' in compared


def test_missing_runs_and_runs_of_another_experiment_are_404(portal: Portal) -> None:
    ada = portal.as_("ada")
    for url in (
        f"/experiments/{portal.experiment_id}/runs/{'0' * 32}",
        f"/experiments/{portal.experiment_id}/runs/bad%20id",
        f"/experiments/0/runs/{portal.ada_run}",
    ):
        page = portal.client.get(url, headers=ada)
        assert page.status_code == 404, (url, page.status_code)
        assert "no run" in page.text or "has no run" in page.text


def test_viewers_see_no_run_page(portal: Portal) -> None:
    url = f"/experiments/{portal.experiment_id}/runs/{portal.ada_run}"
    assert portal.client.get(url, headers=portal.as_("vic")).status_code == 403


def register(portal: Portal, run_id: str, name: str, headers: dict[str, str]) -> object:
    return portal.client.post(
        f"/experiments/{portal.experiment_id}/runs/{run_id}/register",
        data={"name": name},
        headers=headers,
        follow_redirects=False,
    )


def test_the_owner_registers_the_run_model(portal: Portal) -> None:
    done = register(portal, portal.ada_run, "churn-from-run", portal.as_("ada"))
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    assert done.headers["location"] == "/models/churn-from-run?version=1"  # type: ignore[attr-defined]
    version = portal.workbench.models.client.get_model_version("churn-from-run", "1")
    assert version.run_id == portal.ada_run
    assert version.tags["atelier.registered_by"] == "ada"
    entries = portal.workbench.audit.entries(limit=5, action="model.register")
    assert any(e.actor == "ada" and e.target == "churn-from-run/1" for e in entries)


def test_registering_someone_elses_run_is_refused(portal: Portal) -> None:
    bob = portal.as_("bob")
    page = portal.client.get(
        f"/experiments/{portal.experiment_id}/runs/{portal.ada_run}", headers=bob
    ).text
    assert 'data-testid="register-refused"' in page and "/register" not in page
    refused = register(portal, portal.ada_run, "bobs-copy", bob)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "only the run's owner or an admin" in html.unescape(refused.text)  # type: ignore[attr-defined]
    assert portal.workbench.models.client.search_registered_models("name = 'bobs-copy'") == []


def test_viewers_and_bad_input_are_refused_before_anything_is_written(portal: Portal) -> None:
    models = portal.workbench.models.client
    before = len(models.search_registered_models())
    viewer = register(portal, portal.ada_run, "viewer-copy", portal.as_("vic"))
    assert viewer.status_code == 403  # type: ignore[attr-defined]
    ada = portal.as_("ada")
    bad = register(portal, portal.ada_run, "no spaces/allowed", ada)
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "model name 'no spaces/allowed'" in html.unescape(bad.text)  # type: ignore[attr-defined]
    unknown = register(portal, "f" * 32, "ghost", ada)
    assert unknown.status_code == 404  # type: ignore[attr-defined]
    empty = register(portal, portal.ada_run, "  ", ada)
    assert empty.status_code == 422  # type: ignore[attr-defined]
    elsewhere = portal.client.post(
        f"/experiments/0/runs/{portal.ada_run}/register", data={"name": "elsewhere"}, headers=ada
    )
    assert elsewhere.status_code == 404  # the run under another experiment's address
    assert len(models.search_registered_models()) == before


def test_an_admin_registers_any_run_and_an_existing_model_needs_its_rights(
    portal: Portal,
) -> None:
    done = register(portal, portal.bob_run, "churn-from-run", portal.as_("root"))
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert done.headers["location"] == "/models/churn-from-run?version=2"  # type: ignore[attr-defined]
    # bob owns his run but not ada's model: a version of it is hers (and admins') to add.
    refused = register(portal, portal.bob_run, "churn-from-run", portal.as_("bob"))
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "may not add a version to" in refused.text  # type: ignore[attr-defined]


def test_the_form_needs_the_csrf_token_with_a_session(portal: Portal) -> None:
    with TestClient(portal.client.app, base_url="http://127.0.0.1") as browser:
        login = browser.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf
        browser.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
        url = f"/experiments/{portal.experiment_id}/runs/{portal.ada_run}/register"
        refused = browser.post(url, data={"name": "csrf-less"}, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
        page = browser.get(url.removesuffix("/register")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        done = browser.post(
            url, data={"name": "csrf-ok", "csrf_token": token.group(1)}, follow_redirects=False
        )
        assert done.status_code == 303
