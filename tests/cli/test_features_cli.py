"""``atelier features``: apply (diff first), list, show, materialize, training sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import atelier, one_line_error, workspace_with

FEATURES = """
project: churn
entities:
  - {name: customer, keys: [cid]}
views:
  - name: spend
    entity: customer
    source: s.tx
    timestamp: ts
    ttl: 7d
    features: [amount]
    aggregations:
      - {column: amount, functions: [count], windows: [30d]}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = workspace_with(
        tmp_path,
        "CREATE SCHEMA s; CREATE TABLE s.tx AS SELECT 1 AS cid, "
        "TIMESTAMP '2024-01-01' AS ts, 9.5 AS amount; "
        "CREATE TABLE s.labels AS SELECT 1 AS cid, TIMESTAMP '2024-01-02' AS ts",
    )
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "features.yaml").write_text(FEATURES)
    return root


def test_apply_list_show_materialize(ws: Path) -> None:
    project = ws.parent / "project"
    dry = atelier("features", "apply", str(project), "--dry-run", "-w", str(ws))
    assert dry.returncode == 0, dry.stderr
    assert "+ view spend (version 1)" in dry.stdout
    listed = atelier("features", "list", "--json", "-w", str(ws))
    assert json.loads(listed.stdout) == []
    applied = atelier("features", "apply", str(project), "--yes", "-w", str(ws))
    assert "Applied 2 change(s)" in applied.stdout, applied.stderr
    assert "spend" in atelier("features", "list", "-w", str(ws)).stdout
    shown = atelier("features", "show", "spend", "--stats", "-w", str(ws))
    assert "amount_count_30d" in shown.stdout and "rows 1" in shown.stdout
    done = atelier("features", "materialize", "-w", str(ws))
    assert "spend: full, 1 entities to sqlite" in done.stdout
    made = atelier(
        "features",
        "training-set",
        "s.labels",
        "spend:amount",
        "--timestamp",
        "ts",
        "--save-as",
        "ml.train",
        "-w",
        str(ws),
    )
    assert "ml.train version" in made.stdout and "spend@1" in made.stdout, made.stderr
    assert "ml.train" in atelier("features", "training-sets", "-w", str(ws)).stdout
    # Dropping the feature the training set uses is refused with the reason, on one line.
    (project / "features.yaml").write_text(FEATURES.replace("features: [amount]", "features: []"))
    refused = atelier("features", "apply", str(project), "--yes", "-w", str(ws))
    assert "training set ml.train" in one_line_error(refused)
    (project / "features.yaml").write_text(FEATURES.replace("ttl: 7d", "ttl: a week"))
    assert "not a duration" in one_line_error(
        atelier("features", "apply", str(project), "-w", str(ws))
    )
