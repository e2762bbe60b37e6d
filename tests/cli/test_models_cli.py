"""``atelier models`` embedded and against a server: register from a run, aliases, list,
model cards, and the refusals (a viewer, another scientist moving the protected champion,
a code token without the tracking scope), each one line."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from atelier.services.auth import scopes
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, log_model_run

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def test_register_alias_list_show_and_refusals(cli: Cli, tmp_path: Path) -> None:
    wb = cli.workbench()
    try:
        run_id = log_model_run(wb.models.tracking_uri, tmp_path / "artifacts")
        _, app_token = wb.tokens.create_for("sam", "app demo", scopes.APP, timedelta(hours=1))
    finally:
        wb.close()

    done = cli("models", "register", run_id, "--name", "churn", "--alias", "champion")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Registered churn version 1 (champion)"
    assert cli("models", "register", run_id, "-n", "churn").returncode == 0

    moved = cli("models", "alias", "churn", "challenger", "2")
    assert moved.stdout.strip() == "churn@challenger → version 2", moved.stderr
    listed = json.loads(cli("models", "list", "--json").stdout)
    assert [(m["name"], m["latest_version"], m["registered_by"]) for m in listed] == [
        ("churn", 2, "ada")
    ]
    assert listed[0]["aliases"] == {"champion": 1, "challenger": 2}

    shown = cli("models", "show", "churn@champion")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("churn version 1  (champion)")
    assert "bank.customers                   version 3" in shown.stdout
    assert "fees" in shown.stdout and "accuracy" in shown.stdout
    # The environment the model was logged in: its loader and the complete lock, nothing amiss.
    assert "loader           sklearn (cloudpickle)" in shown.stdout
    assert re.search(r"complete lock    \d+ packages pinned", shown.stdout)
    assert "Not pinned" not in shown.stdout
    card = json.loads(cli("models", "show", "churn/2", "--json").stdout)
    assert card["version"] == 2 and card["all_aliases"] == {"champion": 1, "challenger": 2}

    error = one_line_error(cli("models", "show", "churn@staging"))
    assert "model 'churn' has no alias 'staging'" in error

    # Another scientist moves nothing of ada's model, champion least of all.
    sam = cli.as_("sam")
    assert "sam may not move churn@champion" in one_line_error(
        sam("models", "alias", "churn", "champion", "2")
    )
    assert "sam may not delete churn@champion" in one_line_error(
        sam("models", "alias", "churn", "champion", "--remove")
    )
    assert "sam may not add a version to model 'churn'" in one_line_error(
        sam("models", "register", run_id, "-n", "churn", "-a", "champion")
    )
    # Viewers see no models; an app's token (predict, no tracking) reaches none either.
    line = one_line_error(cli.as_("vic")("models", "list"))
    assert "viewer" in line and "may not" in line, line
    line = one_line_error(cli("models", "list", env={"ATELIER_TOKEN": app_token}))
    assert "may not" in line or "scope" in line, line
    after = json.loads(cli("models", "list", "--json").stdout)
    assert after[0]["aliases"] == {"champion": 1, "challenger": 2}
    assert after[0]["latest_version"] == 2


def test_card_lines_name_what_the_environment_does_not_pin() -> None:
    from atelier.cli.models import card_lines

    card = {
        "name": "churn",
        "version": 3,
        "aliases": [],
        "registered_by": "sam",
        "created_at": None,
        "run_id": None,
        "environment": {
            "flags": [
                {
                    "problem": "not-in-project-lock",
                    "message": "scikit-learn 1.7.2 came from the training environment",
                }
            ]
        },
    }
    lines = card_lines(card)
    assert "Not pinned by its environment:" in "\n".join(lines)
    assert lines[-1].split() == [
        "not-in-project-lock",
        "scikit-learn",
        "1.7.2",
        "came",
        "from",
        "the",
        "training",
        "environment",
    ]
