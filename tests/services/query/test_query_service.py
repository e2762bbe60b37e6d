"""Running user SQL: warehouse tables, time travel, attached sources, streamed results,
clear errors, one statement at a time, and the history of each user."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from atelier.backends.warehouse import Attachment, SourceError, SourceSpec, attachment
from atelier.errors import AtelierError, InvalidInput
from atelier.services.query import QueryService
from atelier.services.query.service import BATCH_ROWS
from tests.services.query.running import StandInSources


def rows(service: QueryService, sql: str, user: str = "ada") -> list[tuple[object, ...]]:
    table = service.run(sql, user=user).to_arrow()
    return [tuple(row.values()) for row in table.to_pylist()]


def test_warehouse_tables_and_time_travel(service: QueryService, orders: list[int]) -> None:
    created, deleted = orders
    assert rows(service, "SELECT order_id FROM shop.orders ORDER BY 1") == [(1,), (3,)]
    old = f"SELECT count(*), sum(total) FROM shop.orders AT (VERSION => {created})"
    assert rows(service, old) == [(3, 33.75)]
    assert rows(service, f"SELECT count(*) FROM shop.orders AT (VERSION => {deleted})") == [(2,)]


def test_columns_carry_duckdb_types(service: QueryService, orders: list[int]) -> None:
    with service.run(
        "SELECT order_id, region, total, DATE '2024-01-31' AS d FROM shop.orders", user="ada"
    ) as result:
        assert [(c.name, c.type) for c in result.columns] == [
            ("order_id", "INTEGER"),
            ("region", "VARCHAR"),
            ("total", "DECIMAL(4,2)"),
            ("d", "DATE"),
        ]
        assert result.schema.names == ["order_id", "region", "total", "d"]


def _parquet_source(tmp_path: Path) -> Attachment:
    folder = tmp_path / "files"
    folder.mkdir()
    duckdb.sql(f"COPY (SELECT 7 AS id, 'ada' AS name) TO '{folder / 'people.parquet'}'")
    return attachment("files", SourceSpec("parquet", path=str(folder)))


def test_attached_sources_sit_next_to_warehouse_tables(
    service: QueryService, sources: StandInSources, orders: list[int], tmp_path: Path
) -> None:
    sources.items.append(_parquet_source(tmp_path))
    joined = "SELECT p.name, count(*) FROM files.main.people p, shop.orders o GROUP BY ALL"
    assert rows(service, joined) == [("ada", 2)]
    assert rows(service, 'SELECT id FROM "files".main.people') == [(7,)]


def test_only_the_sources_a_query_names_are_attached(
    service: QueryService, sources: StandInSources, orders: list[int]
) -> None:
    # A source that cannot be attached (its server is down, say) breaks only its own queries.
    broken = Attachment("crm", ("ATTACH '/nonexistent/crm.db' AS crm (READ_ONLY)",))
    sources.items.append(broken)
    assert rows(service, "SELECT count(*) FROM shop.orders") == [(2,)]
    with pytest.raises(SourceError, match="could not attach source 'crm'"):
        service.run("SELECT * FROM crm.main.customers", user="ada")
    assert service.history("ada")[0].status == "error"


def test_results_stream_in_batches_and_are_read_once(service: QueryService) -> None:
    total = 2 * BATCH_ROWS + 10
    result = service.run(f"SELECT range AS i, 'x' || range AS s FROM range({total})", user="ada")
    sizes = [batch.num_rows for batch in result.batches()]
    assert len(sizes) > 1 and sum(sizes) == total == result.rows
    assert result.status == "ok" and result.duration_ms is not None
    with pytest.raises(AtelierError, match="already been read"):
        result.to_arrow()
    entry = service.history("ada")[0]
    assert (entry.status, entry.rows, entry.error) == ("ok", total, None)
    assert entry.duration_ms is not None and entry.duration_ms >= 0


def test_reader_pandas_polars_and_preview(service: QueryService) -> None:
    sql = "SELECT range AS i, range * 2 AS twice FROM range(300000)"
    reader = service.run(sql, user="ada").reader()
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().num_rows == 300000
    frame = service.run(sql, user="ada").to_pandas()
    assert frame.shape == (300000, 2) and int(frame["twice"].iloc[-1]) == 599998
    polars = service.run(sql, user="ada").to_polars()
    assert polars.shape == (300000, 2)
    head, total = service.run(sql, user="ada").preview(5)
    assert total == 300000 and head.column("i").to_pylist() == [0, 1, 2, 3, 4]


def test_a_result_closed_early_is_recorded_as_cancelled(service: QueryService) -> None:
    with service.run("SELECT range FROM range(1000000)", user="ada") as result:
        next(iter(result.batches()))
    assert result.status == "cancelled"
    entry = service.history("ada")[0]
    assert entry.status == "cancelled" and "closed after reading" in (entry.error or "")
    unread = service.run("SELECT 1", user="ada")
    unread.close()
    assert service.history("ada")[0].status == "cancelled"


def test_duckdb_errors_say_what_and_where(service: QueryService, orders: list[int]) -> None:
    with pytest.raises(InvalidInput, match=r"syntax error(.|\n)*LINE 1: SELEC"):
        service.run("SELEC 1", user="ada")
    with pytest.raises(InvalidInput, match=r"Table with name nope does not exist"):
        service.run("SELECT * FROM shop.nope", user="ada")
    with pytest.raises(InvalidInput, match=r"column \"missing\" not found"):
        service.run("SELECT missing FROM shop.orders", user="ada")
    entries = service.history("ada")
    assert [e.status for e in entries] == ["error"] * 3
    assert "missing" in (entries[0].error or "")


def test_an_error_while_streaming_ends_the_result_with_it(service: QueryService) -> None:
    sql = (
        "SELECT CASE WHEN range = 250000 THEN error('boom at 250000') ELSE range END "
        "FROM range(400000)"
    )
    # DuckDB's other worker threads may report the pipeline's "Interrupted!" before the
    # thread that raised; either way the result must end with an error, not rows.
    with pytest.raises(InvalidInput, match=r"boom at 250000|Interrupted"):
        service.run(sql, user="ada").to_arrow()
    entry = service.history("ada")[0]
    assert entry.status == "error" and entry.error


def test_one_statement_at_a_time(service: QueryService) -> None:
    with pytest.raises(InvalidInput, match="2 statements given"):
        service.run("SELECT 1; SELECT 2", user="ada")
    with pytest.raises(InvalidInput, match="no SQL given"):
        service.run("  \n", user="ada")
    with pytest.raises(InvalidInput, match="no SQL statement"):
        service.run("-- only a comment", user="ada")
    assert rows(service, "SELECT 42;") == [(42,)]


def test_timeout_must_be_positive(service: QueryService) -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(InvalidInput, match="timeout must be a positive number"):
            service.run("SELECT 1", user="ada", timeout=bad)


def test_history_is_per_user_and_newest_first(service: QueryService) -> None:
    rows(service, "SELECT 1 AS first", user="ada")
    rows(service, "SELECT 2 AS second", user="ada")
    rows(service, "SELECT 3 AS other", user="bob")
    with pytest.raises(InvalidInput):
        service.run("SELEC", user="bob")
    ada = service.history("ada")
    assert [e.sql for e in ada] == ["SELECT 2 AS second", "SELECT 1 AS first"]
    assert all(e.user == "ada" and e.status == "ok" and e.rows == 1 for e in ada)
    assert [e.status for e in service.history("bob")] == ["error", "ok"]
    assert len(service.history("ada", limit=1)) == 1
    with pytest.raises(InvalidInput, match="limit"):
        service.history("ada", limit=0)
    assert ada[0].as_dict()["started_at"].startswith("20")


def test_history_entries_belong_to_their_user(service: QueryService) -> None:
    query_id = service.run("SELECT 1", user="ada").query_id
    assert service.get(query_id, "ada").sql == "SELECT 1"
    assert service.get(query_id, "root", admin=True).user == "ada"
    with pytest.raises(AtelierError, match="belongs to ada") as refused:
        service.get(query_id, "bob")
    assert refused.value.status_code == 403
