"""The whole path through a real ``atelier up`` and its ``/mlflow``: examples/churn.py trains
three algorithms on the demo bank with atelier.compare, evaluates the best, registers it as
champion, and the model card shows the data versions and the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import start_server

EXAMPLE = Path(__file__).parents[3] / "examples" / "churn.py"
LOCK = 'version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "churn"\n'


def test_churn_example_end_to_end(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    # The demo's churn model and app belong to the workspace's owner, and app churn serves
    # churn@champion: only its owner (or an admin) moves that alias, so the owner runs it.
    user = workbench.owner().name
    token = workbench.tokens.create(user, "example", 1)[1]
    server = start_server(workbench.workspace, "--demo", "--scale", "0.02")
    project = tmp_path / "churn"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "churn"\nversion = "0.1"\n')
    (project / "uv.lock").write_text(LOCK)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "MLFLOW_"))}
    environ.update(
        {
            "ATELIER_URL": server.url,
            "ATELIER_TOKEN": token,
            "MLFLOW_TRACKING_URI": f"{server.url}/mlflow",
            "MLFLOW_TRACKING_TOKEN": token,
            "PYTHONWARNINGS": "ignore",
        }
    )
    try:
        done = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            cwd=project,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        snapshots = {
            v.snapshot_id
            for t in ("customers", "churn_labels", "support_tickets", "transactions")
            for v in workbench.warehouse.snapshots(t, schema="bank")
        }
    finally:
        server.stop()
        workbench.close()

    assert {row["candidate"] for row in summary["leaderboard"]} == {"logreg", "forest", "boosting"}
    assert summary["best"] == summary["leaderboard"][0]["candidate"]
    assert 0.5 < summary["test_metrics"]["test_roc_auc"] <= 1
    # Version 1 is the demo churn model that `atelier up --demo` publishes; this one replaces
    # it as champion.
    assert summary["version"]["version"] == 2
    assert summary["version"]["aliases"] == ["champion"]
    assert summary["version"]["registered_by"] == user
    assert len(summary["champion_predictions"]) == 5

    card = summary["card"]
    assert {d["table"] for d in card["data_versions"]} == {
        "bank.customers",
        "bank.churn_labels",
        "bank.support_tickets",
        "bank.transactions",
    }
    assert all(d["version"] in snapshots for d in card["data_versions"])
    assert card["lock"] == LOCK
    assert card["environment"]["user"] == user
    assert any(p.startswith("scikit-learn==") for p in card["environment"]["packages"])
    assert [c["name"] for c in card["signature"]["inputs"]][:2] == ["segment", "country"]
