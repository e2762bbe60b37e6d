"""The Experiments and Models pages, on runs logged through ``/mlflow`` (one MLflow process).

Runs are written with MLflow's REST API through Atelier's proxy, the way MLflow clients and
``atelier.compare`` write them: a parent run holding a leaderboard with child runs, data-version
tags, ``atelier.lock`` and plot artifacts, and a registered model with an alias.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD

API = "/mlflow/api/2.0/mlflow"
ARTIFACTS = "/mlflow/api/2.0/mlflow-artifacts/artifacts"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)
INPUTS = [
    {"type": "double", "name": "balance", "required": True},
    {"type": "long", "name": "tenure", "required": True},
]
MLMODEL = (
    "artifact_path: model\nflavors:\n  python_function: {loader_module: mlflow.sklearn}\n"
    f"signature:\n  inputs: '{json.dumps(INPUTS)}'\n"
    '  outputs: \'[{"type": "long", "required": true}]\'\n'
)


def lock(sklearn: str) -> str:
    return (
        'version = 1\n\n[[package]]\nname = "numpy"\nversion = "2.1.0"\n\n'
        f'[[package]]\nname = "scikit-learn"\nversion = "{sklearn}"\n'
    )


@dataclass
class Seeded:
    client: Any
    headers: dict[str, str]
    viewer: dict[str, str]
    experiment_id: str
    parent: str
    children: dict[str, str]

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kwargs)


def _call(client: Any, headers: dict[str, str], endpoint: str, body: dict[str, Any]) -> Any:
    response = client.post(f"{API}/{endpoint}", json=body, headers=headers)
    assert response.status_code == 200, (endpoint, response.text)
    return response.json()


def _run(
    client: Any,
    headers: dict[str, str],
    experiment_id: str,
    name: str,
    *,
    metrics: dict[str, float],
    params: dict[str, str],
    tags: dict[str, str],
) -> str:
    now = int(time.time() * 1000)
    run = _call(
        client,
        headers,
        "runs/create",
        {"experiment_id": experiment_id, "run_name": name, "start_time": now},
    )["run"]["info"]
    _call(
        client,
        headers,
        "runs/log-batch",
        {
            "run_id": run["run_id"],
            "metrics": [
                {"key": k, "value": v, "timestamp": now, "step": 0} for k, v in metrics.items()
            ],
            "params": [{"key": k, "value": v} for k, v in params.items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
    )
    return str(run["run_id"])


def _upload(
    client: Any, headers: dict[str, str], experiment_id: str, run_id: str, path: str, data: bytes
) -> None:
    response = client.put(
        f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/{path}", content=data, headers=headers
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    root, _ = init_workspace(tmp_path_factory.mktemp("experiments") / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    workbench.users.create("ada", "scientist", PASSWORD)
    workbench.users.create("vic", "viewer", PASSWORD)
    headers = {"Authorization": f"Bearer {workbench.tokens.create('ada', 'test', 1)[1]}"}
    viewer = {"Authorization": f"Bearer {workbench.tokens.create('vic', 'test', 1)[1]}"}
    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
        experiment_id = _call(client, headers, "experiments/create", {"name": "churn"})[
            "experiment_id"
        ]
        board = {
            "metric": "roc_auc",
            "higher_is_better": True,
            "rows": [],
        }
        parent = _run(
            client,
            headers,
            experiment_id,
            "compare-3",
            metrics={"cv_roc_auc_mean": 0.91},
            params={"cv": "5"},
            tags={"atelier.data_versions": json.dumps([{"table": "bank.customers", "version": 7}])},
        )
        children = {}
        for name, auc, depth, sklearn in (
            ("forest", 0.91, "8", "1.5.2"),
            ("logistic", 0.84, "none", "1.6.0"),
            ("boosting", 0.88, "3", "1.5.2"),
        ):
            child = _run(
                client,
                headers,
                experiment_id,
                name,
                metrics={"roc_auc_mean": auc, "roc_auc_std": 0.01, "fit_time": 1.5},
                params={"max_depth": depth, "cv": "5"},
                tags={
                    "mlflow.parentRunId": parent,
                    "atelier.candidate": name,
                    "atelier.data_versions": json.dumps(
                        [{"table": "bank.customers", "version": 7}]
                    ),
                },
            )
            children[name] = child
            _upload(client, headers, experiment_id, child, "atelier.lock", lock(sklearn).encode())
            _upload(client, headers, experiment_id, child, "plots/roc_curve.png", PNG)
            board["rows"].append(  # type: ignore[attr-defined]
                {
                    "candidate": name,
                    "run_id": child,
                    "roc_auc_mean": auc,
                    "roc_auc_std": 0.01,
                    "fit_time": 1.5,
                }
            )
        board["rows"].sort(key=lambda r: -r["roc_auc_mean"])  # type: ignore[attr-defined]
        _call(
            client,
            headers,
            "runs/set-tag",
            {"run_id": parent, "key": "atelier.leaderboard", "value": json.dumps(board)},
        )
        best = children["forest"]
        _upload(client, headers, experiment_id, best, "model/MLmodel", MLMODEL.encode())
        _call(client, headers, "registered-models/create", {"name": "churn-model"})
        _call(
            client,
            headers,
            "model-versions/create",
            {"name": "churn-model", "source": f"runs:/{best}/model", "run_id": best},
        )
        _call(
            client,
            headers,
            "registered-models/alias",
            {"name": "churn-model", "alias": "champion", "version": "1"},
        )
        yield Seeded(client, headers, viewer, experiment_id, parent, children)
    workbench.close()


def test_experiments_lists_experiments(seeded: Seeded) -> None:
    page = seeded.get("/experiments")
    assert page.status_code == 200
    assert f'href="/experiments/{seeded.experiment_id}">churn</a>' in page.text
    assert "Default" in page.text


def test_viewers_cannot_open_experiments_or_models(seeded: Seeded) -> None:
    for path in ("/experiments", f"/experiments/{seeded.experiment_id}", "/models"):
        assert seeded.client.get(path, headers=seeded.viewer).status_code == 403


def test_experiment_shows_runs_and_the_leaderboard(seeded: Seeded) -> None:
    page = seeded.get(f"/experiments/{seeded.experiment_id}")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="runs"' in text
    assert text.count('name="runs"') == 4
    assert ">ada</td>" in text  # the run's user is the Atelier user who logged it
    assert 'data-testid="leaderboard"' in text
    board = text[text.index('data-testid="leaderboard"') :]
    assert board.index("forest") < board.index("boosting") < board.index("logistic")
    assert "0.91 ± 0.01" in board
    spec = board[board.index('class="vl-spec"') :]
    spec = spec[spec.index(">") + 1 : spec.index("</script>")]
    values = json.loads(spec)["data"]["values"]
    assert [v["candidate"] for v in values] == ["forest", "boosting", "logistic"]


def test_leaderboard_from_child_runs_without_the_tag() -> None:
    from atelier.services.tracking.experiments import leaderboards

    def run(run_id: str, parent: str | None, metrics: dict[str, float]) -> dict[str, Any]:
        return {"id": run_id, "name": run_id, "parent": parent, "metrics": metrics, "tags": {}}

    boards = leaderboards(
        [
            run("p", None, {}),
            run("a", "p", {"rmse_mean": 2.0, "rmse_std": 0.1}),
            run("b", "p", {"rmse_mean": 1.0, "rmse_std": 0.2}),
        ]
    )
    assert len(boards) == 1
    assert boards[0].metric == "rmse" and not boards[0].higher_is_better
    assert [r["candidate"] for r in boards[0].rows] == ["b", "a"]


def test_compare_puts_runs_side_by_side(seeded: Seeded) -> None:
    runs = ",".join(seeded.children[n] for n in ("forest", "logistic"))
    page = seeded.get(f"/experiments/compare?runs={runs}")
    assert page.status_code == 200, page.text
    text = page.text
    metrics = text[text.index('data-testid="compare-metrics"') :]
    assert "roc_auc_mean" in metrics and "0.91" in metrics and "0.84" in metrics
    params = text[text.index('data-testid="compare-params"') :]
    assert 'class="differs"><th>max_depth' in params
    assert 'class="differs"><th>cv' not in params
    assert "bank.customers@7" in text
    environment = text[text.index('data-testid="compare-environment"') :]
    assert "scikit-learn" in environment and "1.5.2" in environment and "1.6.0" in environment
    assert "numpy" not in environment.split("</table>")[0]
    image = (
        f"/mlflow/get-artifact?path=plots/roc_curve.png&amp;run_uuid={seeded.children['forest']}"
    )
    assert image in text
    served = seeded.get(image.replace("&amp;", "&"))
    assert served.status_code == 200 and served.content == PNG


def test_compare_accepts_repeated_runs_parameters(seeded: Seeded) -> None:
    query = "&".join(f"runs={seeded.children[n]}" for n in ("forest", "boosting"))
    page = seeded.get(f"/experiments/compare?{query}")
    assert page.status_code == 200
    assert "The runs used the same package versions." in page.text


def test_compare_without_runs_says_what_to_do(seeded: Seeded) -> None:
    page = seeded.get("/experiments/compare")
    assert page.status_code == 400
    assert "pick runs to compare" in page.text


def test_unknown_experiment_is_404(seeded: Seeded) -> None:
    page = seeded.get("/experiments/424242")
    assert page.status_code == 404
    assert "does not exist" in page.text


def test_models_lists_registered_models_with_aliases(seeded: Seeded) -> None:
    page = seeded.get("/models")
    assert page.status_code == 200
    assert 'href="/models/churn-model"' in page.text
    assert "champion → v1" in page.text


def test_model_card(seeded: Seeded) -> None:
    page = seeded.get("/models/churn-model")
    assert page.status_code == 200, page.text
    text = page.text
    card = text[text.index('data-testid="model-card"') :]
    assert "champion → v1" in text
    assert 'data-testid="registered-by">ada<' in card
    signature = card[card.index('data-testid="signature"') :]
    assert "balance" in signature and "double" in signature and "tenure" in signature
    assert "roc_auc_mean" in card and "0.91" in card
    assert "bank.customers</code> at lake snapshot 7" in card  # no such table here
    environment = card[card.index('data-testid="card-environment"') :]
    assert "scikit-learn" in environment and "1.5.2" in environment
    assert "atelier.lock" in environment


def test_unknown_model_is_404(seeded: Seeded) -> None:
    page = seeded.get("/models/no-such-model")
    assert page.status_code == 404
    assert "no registered model named" in page.text
