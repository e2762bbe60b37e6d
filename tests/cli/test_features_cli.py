"""``atelier features``: apply (diff first), list, show, materialize, training sets, embedded
and against a server (the ``cli`` fixture: the definitions are read here and shipped)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error

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


TABLES = (
    "CREATE SCHEMA s; CREATE TABLE s.tx AS SELECT 1 AS cid, "
    "TIMESTAMP '2024-01-01' AS ts, 9.5 AS amount; "
    "CREATE TABLE s.labels AS SELECT 1 AS cid, TIMESTAMP '2024-01-02' AS ts"
)


def test_apply_list_show_materialize(cli: Cli, tmp_path: Path) -> None:
    wb = cli.workbench()
    try:
        wb.warehouse.run_write(lambda c: c.execute(TABLES), author="ada")
    finally:
        wb.close()
    project = tmp_path / "project"
    project.mkdir()
    (project / "features.yaml").write_text(FEATURES)
    sam = cli.as_("sam")
    dry = sam("features", "apply", str(project), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ view spend (version 1)" in dry.stdout
    assert json.loads(sam("features", "list", "--json").stdout) == []
    viewer = one_line_error(cli.as_("vic")("features", "apply", str(project), "--yes"))
    assert "viewer" in viewer and "may not" in viewer
    applied = sam("features", "apply", str(project), "--yes")
    assert "Applied 2 change(s)" in applied.stdout, applied.stderr
    assert "spend" in sam("features", "list").stdout
    shown = sam("features", "show", "spend", "--stats")
    assert "amount_count_30d" in shown.stdout and "rows 1" in shown.stdout, shown.stderr
    done = sam("features", "materialize")
    assert "spend: full, 1 entities to sqlite" in done.stdout, done.stderr
    made = sam(
        "features", "training-set", "s.labels", "spend:amount", "--timestamp", "ts",
        "--save-as", "ml.train",
    )  # fmt: skip
    assert "ml.train version" in made.stdout and "spend@1" in made.stdout, made.stderr
    assert "ml.train" in sam("features", "training-sets").stdout
    # Dropping the feature the training set uses is refused with the reason, on one line.
    (project / "features.yaml").write_text(FEATURES.replace("features: [amount]", "features: []"))
    refused = sam("features", "apply", str(project), "--yes")
    assert "training set ml.train" in one_line_error(refused)
    (project / "features.yaml").write_text(FEATURES.replace("ttl: 7d", "ttl: a week"))
    assert "not a duration" in one_line_error(sam("features", "apply", str(project)))

    wb = cli.workbench()
    try:
        entries = [e for e in wb.audit.entries(limit=50) if e.action.startswith("features.")]
    finally:
        wb.close()
    seen = [(e.action, e.actor, e.target) for e in reversed(entries)]
    assert seen == [
        ("features.apply", "sam", "churn"),
        ("features.materialize", "sam", "spend"),
        ("features.training_set", "sam", "ml.train"),
    ]
    assert entries[-1].detail == {"changes": ["+ entity customer", "+ view spend (version 1)"]}
