"""Query results as files: CSV and Parquet encoded batch by batch, what CSV cannot hold
refused before any row, who may download, and the ``sql.download`` audit entry."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.auth import scopes as token_scopes
from atelier.services.query.download import start_download
from atelier.services.workbench import Workbench


def _person(workbench: Workbench, role: str = "scientist") -> Principal:
    name = f"{role}1"
    user = workbench.users.create(name, role, "correct horse battery")
    return Principal(user.id, name, role, "token")


def _file(workbench: Workbench, principal: Principal, sql: str, fmt: str) -> bytes:
    started = start_download(
        workbench.query, workbench.audit, sql, fmt, principal=principal, remote=True
    )
    try:
        return b"".join(started.chunks())
    finally:
        started.close()


def test_csv_and_parquet_over_many_batches(workbench: Workbench) -> None:
    sam = _person(workbench)
    sql = "SELECT range AS n, 'row ' || range AS s, NULL::INTEGER AS empty FROM range(300000)"
    data = _file(workbench, sam, sql, "csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["n", "s", "empty"] and len(rows) == 300001
    assert rows[1] == ["0", "row 0", ""] and rows[-1] == ["299999", "row 299999", ""]

    table = pq.read_table(io.BytesIO(_file(workbench, sam, sql, "parquet")))
    assert table.num_rows == 300000 and table.column("n")[-1].as_py() == 299999
    assert table.num_columns == 3

    empty = _file(workbench, sam, "SELECT 1 AS x WHERE false", "csv")
    assert empty.decode().splitlines() == ['"x"']
    assert (
        pq.read_table(
            io.BytesIO(_file(workbench, sam, "SELECT 1 AS x WHERE false", "parquet"))
        ).num_rows
        == 0
    )


def test_audited_once_per_download_with_format_and_destination(workbench: Workbench) -> None:
    sam = _person(workbench)
    started = start_download(
        workbench.query,
        workbench.audit,
        "SELECT 1 AS x",
        "parquet",
        principal=sam,
        remote=False,
        client="sdk",
    )
    started.close()
    [entry] = workbench.audit.entries(action="sql.download")
    assert entry.actor == "scientist1" and entry.target == str(started.result.query_id)
    assert entry.detail == {"format": "parquet", "remote": False} and entry.client == "sdk"


def test_refused_before_anything_runs_or_is_recorded(workbench: Workbench) -> None:
    sam = _person(workbench)
    with pytest.raises(InvalidInput, match="unknown download format 'xlsx'"):
        _file(workbench, sam, "SELECT 1", "xlsx")
    with pytest.raises(InvalidInput, match=r"CSV cannot hold the nested column\(s\) l, st"):
        _file(workbench, sam, "SELECT [1, 2] AS l, {'a': 1} AS st, 3 AS n", "csv")
    nested = pq.read_table(
        io.BytesIO(_file(workbench, sam, "SELECT [1, 2] AS l, {'a': 1} AS st", "parquet"))
    )
    assert nested.to_pylist() == [{"l": [1, 2], "st": {"a": 1}}]

    vic = _person(workbench, "viewer")
    with pytest.raises(PermissionDenied, match="viewer"):
        _file(workbench, vic, "SELECT 1", "csv")
    # An app's token reads, but does not download.
    app = Principal(
        sam.user_id, sam.name, sam.role, "token", scopes=token_scopes.APP, label="app churn"
    )
    with pytest.raises(PermissionDenied, match="may not download query results"):
        _file(workbench, app, "SELECT 1", "csv")
    _, token = workbench.tokens.create_for(
        sam.name, "notebook scientist1", token_scopes.NOTEBOOK, timedelta(hours=1)
    )
    use = workbench.tokens.authenticate(token)
    assert use is not None
    assert _file(workbench, use.principal, "SELECT 7 AS n", "csv").decode().splitlines()[1] == "7"

    # Only the successful downloads are recorded (the nested Parquet and the notebook's).
    assert len(workbench.audit.entries(action="sql.download")) == 2
