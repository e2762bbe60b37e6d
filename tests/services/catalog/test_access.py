"""The data services check who acts before any side effect and leave the audit entry
themselves: refusals write nothing, whoever calls (API, portal, SDK or CLI)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from atelier.errors import PermissionDenied
from atelier.services.auth import Principal
from atelier.services.features.loader import from_dict
from atelier.services.workbench import Workbench

ADA = Principal(1, "ada", "admin", "token")
SAM = Principal(2, "sam", "scientist", "token")
VIC = Principal(3, "vic", "viewer", "token")
#: A job of ada's that may only read: not an admin's full rights.
JOB = Principal(1, "ada", "admin", "token", scopes=frozenset({"data:read"}), label="job 7")


def test_refusals_come_before_any_side_effect(workbench: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    options = {"path": str(path)}
    for who in (SAM, JOB):
        with pytest.raises(PermissionDenied, match="may not add sources"):
            workbench.sources.add("legacy", "sqlite", options=options, secrets={}, principal=who)
    assert workbench.sources.list() == []
    workbench.sources.add("legacy", "sqlite", options=options, secrets={}, principal=ADA)
    with pytest.raises(PermissionDenied, match="may not remove sources"):
        workbench.sources.remove("legacy", principal=SAM)

    for who in (VIC, JOB):
        with pytest.raises(PermissionDenied, match="may not upload data"):
            workbench.ingest.upload(pa.table({"x": [1]}), "t", principal=who)
    assert "main.t" not in {e.name for e in workbench.catalog.list()}
    workbench.ingest.upload(pa.table({"x": [1]}), "t", principal=SAM, client="sdk")
    for who in (VIC, JOB):
        with pytest.raises(PermissionDenied, match="may not annotate tables"):
            workbench.catalog.update("main.t", tags=["x"], principal=who)
    assert workbench.catalog.describe("main.t").entry.tags == ()
    with pytest.raises(PermissionDenied, match="may not run SQL"):
        workbench.query.run("SELECT 1", principal=VIC)
    with workbench.query.run("SELECT x FROM main.t", principal=JOB) as result:
        assert result.to_arrow().num_rows == 1
    with pytest.raises(PermissionDenied, match="may not apply feature definitions"):
        workbench.features.apply(from_dict({"project": "p"}), principal=JOB)
    with pytest.raises(PermissionDenied, match="may not materialize"):
        workbench.features.materialize(principal=VIC)

    entries = [(e.action, e.actor, e.target, e.client) for e in workbench.audit.entries()]
    assert entries == [
        ("table.upload", "sam", "main.t", "sdk"),
        ("source.add", "ada", "legacy", None),
    ]
