"""``/api/v1/sql``: JSON or an Arrow IPC stream, refusals as 403, bad SQL as 422, timeouts as
408, cancel and history per user — in-process, and over real HTTP from `atelier up`."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pytest

from atelier.errors import Conflict, InvalidInput, PermissionDenied
from atelier.sdk.arrow import ARROW_STREAM, fetch_arrow, stream_arrow
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts, RunningServer
from tests.services.query.running import ENDLESS, Background, wait_for

ARROW = {"Accept": ARROW_STREAM}


@pytest.fixture
def orders(workbench: Workbench) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS order_id, "
            "DATE '2024-01-01' + range::INTEGER AS day, (range * 1.25)::DECIMAL(10,2) AS total "
            "FROM range(5)"
        ),
        author="ada",
    )


def test_json_result(client, accounts: Accounts, orders: None) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/sql",
        json={"sql": "SELECT *, NULL::VARCHAR AS note FROM shop.orders ORDER BY order_id LIMIT 2"},
        headers=accounts.headers("scientist"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["columns"] == [
        {"name": "order_id", "type": "BIGINT"},
        {"name": "day", "type": "DATE"},
        {"name": "total", "type": "DECIMAL(10,2)"},
        {"name": "note", "type": "VARCHAR"},
    ]
    assert body["rows"] == [[0, "2024-01-01", 0.0, None], [1, "2024-01-02", 1.25, None]]
    assert body["row_count"] == 2
    assert response.headers["X-Atelier-Query-Id"] == str(body["query_id"])


def test_arrow_stream_round_trip_matches_json(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT range AS id, range * 1.5 AS x, 'row ' || range AS s FROM range(150000)"
    headers = accounts.headers("scientist")
    streamed = client.post("/api/v1/sql", json={"sql": sql}, headers={**headers, **ARROW})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(io.BytesIO(streamed.content)).read_all()
    as_json = client.post("/api/v1/sql", json={"sql": sql}, headers=headers).json()
    assert table.num_rows == as_json["row_count"] == 150000
    assert table.schema.names == [c["name"] for c in as_json["columns"]]
    first, last = as_json["rows"][0], as_json["rows"][-1]
    assert [table.column(i)[0].as_py() for i in range(3)] == [0, 0, "row 0"]
    assert first == [0, 0.0, "row 0"] and last == [149999, 224998.5, "row 149999"]
    assert float(table.column("x")[-1].as_py()) == last[1]

    client.headers.update(headers)
    assert fetch_arrow(client, sql).equals(table)


@pytest.mark.parametrize("accept", [None, ARROW_STREAM])
def test_refusals_are_403(client, accounts: Accounts, tmp_path: Path, accept: str | None) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.parquet"
    duckdb.sql(f"COPY (SELECT 'hunter2' AS password) TO '{secret}'")
    headers = {**accounts.headers("scientist"), **({"Accept": accept} if accept else {})}
    for sql, reason in [
        ("SELECT * FROM read_csv('/etc/passwd')", "is not available in user SQL"),
        (f"SELECT * FROM read_parquet('{secret}')", "is not available in user SQL"),
        ("SELECT * FROM read_text('/etc/hosts')", "is not available in user SQL"),
        ("SELECT * FROM glob('/etc/*')", "is not available in user SQL"),
        (f"ATTACH '{tmp_path / 'x.db'}' AS x", "ATTACH statements may not run here"),
        ("INSTALL httpfs", "INSTALL statements may not run here"),
        ("LOAD httpfs", "may not run here"),
        (f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'", "COPY statements may not run here"),
        ("SET threads = 1", "may not run here"),
        ("PRAGMA memory_limit = '100GB'", "PRAGMA statements may not run here"),
    ]:
        response = client.post("/api/v1/sql", json={"sql": sql}, headers=headers)
        assert response.status_code == 403, (sql, response.text)
        assert reason in response.json()["detail"], (sql, response.text)
    assert not (tmp_path / "out.csv").exists()


def test_bad_requests_are_422(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    headers = accounts.headers("scientist")
    for body, message in [
        ({"sql": "SELEC 1"}, "LINE 1: SELEC 1"),
        ({"sql": "SELECT 1; SELECT 2"}, "2 statements given"),
        ({"sql": ""}, "no SQL given"),
        ({"sql": "SELECT 1", "timeout": 0}, "timeout"),
        ({"sql": "SELECT 1", "limit": 5}, "limit"),
        ({}, "sql"),
    ]:
        for accept in ({}, ARROW):
            response = client.post("/api/v1/sql", json=body, headers={**headers, **accept})
            assert response.status_code == 422, (body, response.text)
            assert message in response.json()["detail"], (body, response.text)


@pytest.mark.parametrize("accept", [None, ARROW_STREAM])
def test_timeout_is_408(
    client, accounts: Accounts, workbench: Workbench, accept: str | None
) -> None:  # type: ignore[no-untyped-def]
    headers = {**accounts.headers("scientist"), **({"Accept": accept} if accept else {})}
    response = client.post("/api/v1/sql", json={"sql": ENDLESS, "timeout": 0.3}, headers=headers)
    assert response.status_code == 408
    assert "0.3 s timeout" in response.json()["detail"]
    assert workbench.query.history("scientist1")[0].status == "timeout"


def test_cancel_and_who_may(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    workbench.users.create("scientist2", "scientist", PASSWORD)
    other = {"Authorization": f"Bearer {workbench.tokens.create('scientist2', 't', 1)[1]}"}
    running = Background(
        lambda: client.post(
            "/api/v1/sql", json={"sql": ENDLESS}, headers=accounts.headers("scientist")
        )
    )
    wait_for(lambda: workbench.query.running("scientist1"))
    query_id = workbench.query.running("scientist1")[0].query_id

    refused = client.post(f"/api/v1/sql/{query_id}/cancel", headers=other)
    assert refused.status_code == 403 and "belongs to scientist1" in refused.json()["detail"]
    cancelled = client.post(f"/api/v1/sql/{query_id}/cancel", headers=accounts.headers("admin"))
    assert cancelled.json() == {"query_id": query_id, "status": "cancelling"}

    assert running.join() is None
    response = running.value
    assert response.status_code == 409  # type: ignore[attr-defined]
    assert response.json()["detail"]  # type: ignore[attr-defined] == f"query {query_id} was cancelled by admin1"
    again = client.post(f"/api/v1/sql/{query_id}/cancel", headers=accounts.headers("scientist"))
    assert again.status_code == 409 and "ended with cancelled" in again.json()["detail"]
    assert client.post("/api/v1/sql/999999/cancel", headers=other).status_code == 404
    [entry] = workbench.audit.entries(action="sql.cancel")
    assert (entry.actor, entry.target) == ("admin1", str(query_id))


def test_history_and_query_info_per_user(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    scientist, admin = accounts.headers("scientist"), accounts.headers("admin")
    mine = client.post("/api/v1/sql", json={"sql": "SELECT 1 AS a"}, headers=scientist).json()
    client.post("/api/v1/sql", json={"sql": "SELEC"}, headers=scientist)
    client.post("/api/v1/sql", json={"sql": "SELECT 2 AS b"}, headers=admin)

    history = client.get("/api/v1/sql/history", headers=scientist).json()
    assert [(h["sql"], h["status"], h["rows"]) for h in history] == [
        ("SELEC", "error", 0),
        ("SELECT 1 AS a", "ok", 1),
    ]
    assert set(history[0]) == {
        "query_id", "user", "sql", "started_at", "status", "duration_ms", "rows", "error",
    }  # fmt: skip
    assert len(client.get("/api/v1/sql/history?limit=1", headers=scientist).json()) == 1
    assert client.get("/api/v1/sql/history?limit=0", headers=scientist).status_code == 422

    query_id = mine["query_id"]
    assert client.get(f"/api/v1/sql/{query_id}", headers=scientist).json()["rows"] == 1
    assert client.get(f"/api/v1/sql/{query_id}", headers=admin).json()["user"] == "scientist1"
    admins = client.get("/api/v1/sql/history", headers=admin).json()
    other = client.get(f"/api/v1/sql/{admins[0]['query_id']}", headers=scientist)
    assert other.status_code == 403
    assert client.get("/api/v1/sql/999999", headers=scientist).status_code == 404


def test_viewers_may_not_query(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/sql", json={"sql": "SELECT 1"}, headers=accounts.headers("viewer")
    )
    assert response.status_code == 403
    assert client.get("/api/v1/sql/history", headers=accounts.headers("viewer")).status_code == 403


def test_an_error_after_rows_have_gone_out_is_in_the_stream(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    client.headers.update(accounts.headers("scientist"))
    with stream_arrow(client, "SELECT range AS i FROM range(10000000000)") as reader:
        assert reader.read_next_batch().num_rows > 0
        [query] = workbench.query.running("scientist1")
        client.post(f"/api/v1/sql/{query.query_id}/cancel")
        with pytest.raises(Conflict, match="cancelled by scientist1"):
            for _ in reader:
                pass
    assert workbench.query.history("scientist1")[0].status == "cancelled"
    assert workbench.query.running() == []


def test_sdk_errors_match_the_status(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    client.headers.update(accounts.headers("scientist"))
    with pytest.raises(InvalidInput, match=r"(?s)syntax error.*\(HTTP 422\)"):
        fetch_arrow(client, "SELEC 1")
    with pytest.raises(PermissionDenied, match="HTTP 403"):
        fetch_arrow(client, "SELECT * FROM read_csv('/etc/passwd')")


def test_over_real_http(server: RunningServer, accounts: Accounts, workbench: Workbench) -> None:
    headers = accounts.headers("scientist")
    sql = "SELECT range AS id, 'row ' || range AS s FROM range(1000000)"
    with httpx.Client(base_url=server.url, headers=headers) as http:
        remote = fetch_arrow(http, sql, timeout=60)
        embedded = workbench.query.run(sql, user="scientist1").to_arrow()
        assert remote.equals(embedded)

        # A plain Arrow client sees a stream cut off mid-way as broken, never as complete.
        endless = {"sql": "SELECT range AS i FROM range(10000000000)"}
        with http.stream("POST", "/api/v1/sql", json=endless, headers=ARROW) as response:
            chunks = response.iter_raw()
            next(chunks)
            query_id = int(response.headers["X-Atelier-Query-Id"])
            http.post(f"/api/v1/sql/{query_id}/cancel").raise_for_status()
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in chunks:
                    pass
    assert workbench.query.get(query_id, "scientist1").status == "cancelled"
