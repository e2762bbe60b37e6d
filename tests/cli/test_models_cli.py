"""``atelier models``: register from a run, aliases, list, model cards, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier, one_line_error
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def test_register_alias_list_and_show(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        run_id = log_model_run(wb.models.tracking_uri, tmp_path / "artifacts")
        owner = wb.owner().name
    finally:
        wb.close()
    ws = ("--workspace", str(root))

    done = atelier("models", "register", run_id, "--name", "churn", "--alias", "champion", *ws)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Registered churn version 1 (champion)"
    assert atelier("models", "register", run_id, "-n", "churn", *ws).returncode == 0

    moved = atelier("models", "alias", "churn", "challenger", "2", *ws)
    assert moved.stdout.strip() == "churn@challenger → version 2", moved.stderr
    listed = json.loads(atelier("models", "list", "--json", *ws).stdout)
    assert [(m["name"], m["latest_version"], m["registered_by"]) for m in listed] == [
        ("churn", 2, owner)
    ]
    assert listed[0]["aliases"] == {"champion": 1, "challenger": 2}

    shown = atelier("models", "show", "churn@champion", *ws)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("churn version 1  (champion)")
    assert "bank.customers                   version 3" in shown.stdout
    assert "fees" in shown.stdout and "accuracy" in shown.stdout

    error = one_line_error(atelier("models", "show", "churn@staging", *ws))
    assert "model 'churn' has no alias 'staging'" in error
