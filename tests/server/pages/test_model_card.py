"""The model card says true things: the signature MLflow 3 keeps with the logged model, the
training set and feature views the run trained on, the evaluation plots, and what "Publish as
app" serves by default. In-process, with a real MLflow registry."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.serving.helpers import (
    add_accounts,
    churn_frame,
    register_churn_model,
    workspace_with_model,
)
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


@dataclass
class Portal:
    client: TestClient
    workbench: Workbench
    headers: dict[str, dict[str, str]]


def register_plain_model(tracking_uri: str, artifacts: Path) -> str:
    """``plain``: logged without a signature, trained on a saved training set and two feature
    views, evaluated by ``atelier.evaluate``; version 1, ``@challenger`` on it. Its run id."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from atelier.services.features.lineage import run_tags
    from atelier.services.tracking.evaluate import evaluate
    from atelier.services.tracking.registry import mlflow_client
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    frame, labels = churn_frame(rows=120)
    numbers = frame[["age", "monthly_fees", "complaints"]]
    model = LogisticRegression(max_iter=300).fit(numbers, labels)
    client = mlflow_client(tracking_uri)
    experiment_id = client.create_experiment("plain", artifact_location=str(artifacts))
    lineage = {
        "feature_views": {"customer_stats": 3, "usage": 1},
        "training_set": "ml.churn_train",
        "training_set_version": 4,
    }
    # Captured by Atelier in a project that is no git repository; MLflow named the repository
    # around its own script (the one Atelier runs from).
    tags = run_tags(lineage) | {"atelier.capture": "c" * 32, "mlflow.source.git.commit": "a" * 40}
    # Outside any project: when an earlier test of this process turned Atelier's capture on,
    # it records the git commit of the project around the current folder (this checkout's).
    artifacts.parent.mkdir(parents=True, exist_ok=True)
    with kept_mlflow_uris(), warnings.catch_warnings(), contextlib.chdir(artifacts.parent):
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            evaluate(
                model,
                numbers.assign(churned=labels),
                "churned",
                run_id=run.info.run_id,
                importance_rows=50,
                importance_repeats=1,
            )
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="plain",
                pip_requirements=["scikit-learn"],
            )
    client.set_registered_model_alias("plain", "challenger", "1")
    return str(run.info.run_id)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    from atelier.services.tracking import TrackingStore

    workspace = workspace_with_model(tmp_path_factory.mktemp("model-card") / "ws")
    store = TrackingStore.for_workspace(workspace)
    # churn: version 2 on @challenger beside version 1 on @champion
    register_churn_model(store.backend_uri, store.artifacts_dir / "churn", alias="challenger")
    register_plain_model(store.backend_uri, store.artifacts_dir / "plain")
    workbench = Workbench(workspace)
    headers = add_accounts(workbench)
    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf
        done = client.post(
            "/login",
            data={"name": "scientist1", "password": PASSWORD, "csrf_token": csrf.group(1)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        yield Portal(client, workbench, headers)
    workbench.close()


def section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : start + 4000]


def test_a_model_logged_with_a_signature_shows_it(portal: Portal) -> None:
    page = portal.client.get("/models/churn?version=1").text
    assert "logged without a signature" not in page
    signature = section(page, "signature")
    for column, kind in (("segment", "string"), ("age", "long"), ("monthly_fees", "double")):
        assert f"<td>{column}</td><td>{kind}</td>" in signature
    assert "<th>Output</th>" in page


def test_a_model_logged_without_one_says_so(portal: Portal) -> None:
    page = portal.client.get("/models/plain").text
    assert 'data-testid="signature"' not in page
    assert "This model was logged without a signature." in page


def test_lineage_links_the_training_set_and_feature_views(portal: Portal) -> None:
    lineage = section(portal.client.get("/models/plain").text, "card-lineage")
    assert (
        '<a href="/data/tables/ml.churn_train"><code>ml.churn_train</code></a> at lake snapshot 4'
        in lineage
    )
    assert '<a href="/features/customer_stats">customer_stats</a> version 3' in lineage
    assert '<a href="/features/usage">usage</a> version 1' in lineage
    churn = section(portal.client.get("/models/churn").text, "card-lineage")
    assert "The run recorded no training set or feature views" in churn


def test_evaluation_plots_are_shown_and_served_to_readers_only(portal: Portal) -> None:
    page = portal.client.get("/models/plain").text
    plots = section(page, "card-plots")
    urls = re.findall(r'<img src="([^"]+)"', plots)
    names = {re.sub(r".*path=evaluation%2F", "", u) for u in urls}
    assert {"roc_curve.png", "pr_curve.png", "confusion_matrix.png", "calibration.png"} <= names
    assert 'alt="ROC curve"' in plots and 'alt="Confusion matrix"' in plots
    roc = next(u.replace("&amp;", "&") for u in urls if "roc_curve" in u)
    image = portal.client.get(roc)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    # Who may not read the card may not read its plots.
    viewer = portal.client.get(roc, headers=portal.headers["viewer1"])
    card = portal.client.get("/models/plain", headers=portal.headers["viewer1"])
    assert viewer.status_code == card.status_code == 403
    anonymous = TestClient(portal.client.app, base_url="http://127.0.0.1").get(roc)
    assert anonymous.status_code in (401, 303) and not anonymous.content.startswith(b"\x89PNG")
    # The churn card has no evaluation: no plot section.
    assert 'data-testid="card-plots"' not in portal.client.get("/models/churn").text


@pytest.mark.parametrize(
    "path",
    [
        "model/MLmodel",  # another artifact of the run
        "evaluation/metrics.json",  # not a plot
        "evaluation/../model/model.pkl.png",
        "/etc/passwd.png",
        "evaluation/missing.png",
    ],
)
def test_the_plot_route_serves_evaluation_plots_and_nothing_else(portal: Portal, path: str) -> None:
    response = portal.client.get("/models/plain/plots", params={"version": "1", "path": path})
    assert response.status_code in (400, 404, 422), response.text
    assert response.headers["content-type"].startswith(("application/json", "text/html"))


def test_the_plot_route_refuses_a_bad_version(portal: Portal) -> None:
    path = "evaluation/roc_curve.png"
    for version in ("x", "99"):
        response = portal.client.get(
            "/models/plain/plots", params={"version": version, "path": path}
        )
        assert response.status_code in (404, 422)
    missing = portal.client.get("/models/nope/plots", params={"version": "1", "path": path})
    assert missing.status_code == 404


def selected(page: str) -> str:
    form = section(page, "publish-app")
    found = re.search(r'<option value="([^"]+)" selected>', form)
    assert found, form
    return found.group(1)


def test_publish_defaults_to_where_the_user_came_from(portal: Portal) -> None:
    # The card opens on @champion: the app serves @champion, not @challenger.
    page = portal.client.get("/models/churn").text
    assert selected(page) == "alias:champion"
    assert "Serves <code>@champion</code>, today version 1" in page
    # From the @challenger tag.
    page = portal.client.get("/models/churn?alias=challenger").text
    assert "Model card: version 2" in page
    assert selected(page) == "alias:challenger"
    assert "Serves <code>@challenger</code>, today version 2" in page
    # From a version's row: that version, fixed.
    page = portal.client.get("/models/churn?version=1").text
    assert selected(page) == "version:1"
    assert "Serves version 1, fixed." in page
    # An alias that does not exist falls back to the card's default.
    assert selected(portal.client.get("/models/churn?alias=nope").text) == "alias:champion"
    # A model with no champion: the version shown.
    assert selected(portal.client.get("/models/plain").text) == "version:1"


def test_the_git_commit_is_the_projects_own(portal: Portal) -> None:
    from atelier.services.tracking.registry import mlflow_client

    page = portal.client.get("/models/plain").text
    assert "none: not a git repository" in section(page, "card-git")[:400]
    assert "a" * 12 not in page  # MLflow's tag on a captured run names another repository
    server = portal.workbench.tracking_server
    run_id = server.api("GET", "model-versions/get", params={"name": "plain", "version": "1"})[
        "model_version"
    ]["run_id"]
    client = mlflow_client(server.store.backend_uri)
    client.set_tag(run_id, "atelier.git.commit", "b" * 40)
    client.set_tag(run_id, "atelier.git.branch", "trunk")
    client.set_tag(run_id, "atelier.git.dirty", "true")
    try:
        git = section(portal.client.get("/models/plain").text, "card-git")[:400]
        assert f'<code title="{"b" * 40}">{"b" * 12}</code> on trunk with uncommitted' in git
    finally:
        for tag in ("atelier.git.commit", "atelier.git.branch", "atelier.git.dirty"):
            client.delete_tag(run_id, tag)
