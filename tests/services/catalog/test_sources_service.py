"""Sources against real servers (PostgreSQL, MariaDB) and real files (SQLite, Parquet, CSV):
added only after a successful connection, queryable as NAME.schema.table, never showing
their secrets, removed cleanly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from atelier.backends.warehouse import SourceError
from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.services.catalog.kinds import build, clean
from atelier.services.workbench import Workbench
from tests.services.catalog.servers import mysql_table, postgres_source

WRONG_PASSWORD = "Wr0ng-Pa55word-never-shown"


def query(wb: Workbench, sql: str) -> list[tuple[object, ...]]:
    with wb.warehouse.user_connection(wb.sources.attachments()) as connection:
        return connection.execute(sql).fetchall()


def sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER, total REAL, status TEXT)")
        db.execute("INSERT INTO orders VALUES (1, 9.5, 'paid'), (2, 20.0, 'open')")
    return path


def parquet_folder(path: Path) -> Path:
    (path / "clicks" / "day=1").mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 1 AS id, 'ada' AS name) TO '{path / 'users.parquet'}'")
    duckdb.sql(f"COPY (SELECT 7 AS n) TO '{path / 'clicks' / 'day=1' / 'a.parquet'}'")
    return path


def test_postgres_source_end_to_end(workbench: Workbench) -> None:
    with postgres_source() as options:
        info = workbench.sources.add(
            "crm", "postgres", options=options, secrets={}, description="CRM", by="ada"
        )
        assert info.type == "postgres" and info.created_by == "ada"
        assert [t.full_name for t in workbench.sources.tables("crm")] == ["crm.crm.customers"]
        names = {e.name: e for e in workbench.catalog.list()}
        assert names["crm.crm.customers"].kind == "source"
        assert names["crm.crm.customers"].owner == "ada"
        rows = query(workbench, "SELECT id, name FROM crm.crm.customers ORDER BY id")
        assert rows == [(1, "ada"), (2, "grace"), (3, "edsger")]
        detail = workbench.catalog.describe("crm.crm.customers")
        assert detail.entry.rows == 3 and detail.sample_rows[0] == (1, "ada", 1.5)

        workbench.sources.remove("crm")
        assert workbench.sources.attachments() == []
        assert "crm.crm.customers" not in {e.name for e in workbench.catalog.list()}


def test_mysql_source_end_to_end(workbench: Workbench) -> None:
    extensions = workbench.warehouse.extension_directory
    with mysql_table(extensions) as (options, table):
        workbench.sources.add("shop", "mysql", options=options, secrets={}, by="ada")
        database = options["database"]
        full = f"shop.{database}.{table}"
        assert full in [t.full_name for t in workbench.sources.tables("shop")]
        # Only the configured database is listed, not MariaDB's own schemas.
        assert {t.schema for t in workbench.sources.tables("shop")} == {database}
        assert full in {e.name for e in workbench.catalog.list(search=table)}
        assert query(workbench, f"SELECT * FROM {full} ORDER BY id") == [(1, "ada"), (2, "grace")]
        workbench.sources.remove("shop")
        assert workbench.sources.names() == set()


def test_a_wrong_password_is_never_shown_and_nothing_is_stored(workbench: Workbench) -> None:
    extensions = workbench.warehouse.extension_directory
    with mysql_table(extensions) as (options, _):
        options = {**options, "user": "atelier_nobody"}
        with pytest.raises(SourceError) as caught:
            workbench.sources.add(
                "shop", "mysql", options=options, secrets={"password": WRONG_PASSWORD}, by="ada"
            )
    message = str(caught.value)
    assert "shop" in message and "not added" in message
    assert WRONG_PASSWORD not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert workbench.sources.list() == []


def test_secrets_are_stored_but_never_listed(workbench: Workbench) -> None:
    with postgres_source() as options:
        # PostgreSQL here trusts local connections, so any password is accepted.
        info = workbench.sources.add(
            "crm", "postgres", options=options, secrets={"password": WRONG_PASSWORD}, by="ada"
        )
        listed = json.dumps([s.as_dict() for s in workbench.sources.list()])
        assert WRONG_PASSWORD not in listed + json.dumps(info.as_dict()) + repr(info)
        assert info.secret_fields == ("password",) and info.has_password
        assert "password" not in info.options
        # The attachment carries it (into a temporary DuckDB secret), nothing else does.
        (attachment,) = workbench.sources.attachments()
        assert WRONG_PASSWORD in attachment.secrets and WRONG_PASSWORD not in repr(attachment)
        tables = json.dumps([e.as_dict() for e in workbench.catalog.list()])
        assert WRONG_PASSWORD not in tables
        workbench.sources.remove("crm")


def test_file_sources(workbench: Workbench, tmp_path: Path) -> None:
    db = sqlite_file(tmp_path / "legacy.db")
    folder = parquet_folder(tmp_path / "exports")
    (tmp_path / "rates.csv").write_text("currency,rate\nEUR,1.1\nGBP,1.3\n")
    workbench.sources.add("legacy", "sqlite", options={"path": str(db)}, secrets={}, by="ada")
    workbench.sources.add("exports", "parquet", options={"path": str(folder)}, secrets={}, by="b")
    workbench.sources.add(
        "rates", "csv", options={"path": str(tmp_path / "rates.csv")}, secrets={}, by="c"
    )

    names = [e.name for e in workbench.catalog.list()]
    assert names == [
        "exports.main.clicks",
        "exports.main.users",
        "legacy.main.orders",
        "rates.main.rates",
    ]
    assert query(workbench, "SELECT total FROM legacy.main.orders ORDER BY id") == [(9.5,), (20.0,)]
    assert query(workbench, "SELECT n, day FROM exports.main.clicks") == [(7, 1)]
    assert query(workbench, "SELECT count(*) FROM rates.main.rates") == [(2,)]
    assert workbench.sources.get("legacy").options == {"path": str(db.resolve())}


def test_a_vanished_file_source_breaks_nothing_else(workbench: Workbench, tmp_path: Path) -> None:
    folder = parquet_folder(tmp_path / "exports")
    db = sqlite_file(tmp_path / "legacy.db")
    workbench.sources.add("exports", "parquet", options={"path": str(folder)}, secrets={}, by="a")
    workbench.sources.add("legacy", "sqlite", options={"path": str(db)}, secrets={}, by="a")
    shutil.rmtree(folder)

    assert [a.alias for a in workbench.sources.attachments()] == ["legacy"]
    entries = {e.name: e for e in workbench.catalog.list()}
    assert entries["exports"].error and "does not exist" in entries["exports"].error
    assert "legacy.main.orders" in entries
    with pytest.raises(SourceError, match="does not exist"):
        workbench.sources.test("exports")


@pytest.mark.parametrize(
    ("name", "kind", "options", "secrets", "error"),
    [
        ("Bad-Name", "sqlite", {}, {}, "not valid"),
        ("lake", "sqlite", {}, {}, "reserved"),
        ("main", "sqlite", {}, {}, "reserved"),
        ("x", "oracle", {}, {}, "not supported"),
        ("x", "postgres", {"host": "h"}, {}, "needs database"),
        ("x", "postgres", {"host": "h", "database": "d", "password": "p"}, {}, "is secret"),
        ("x", "postgres", {"host": "h", "database": "d", "colour": 1}, {}, "no option colour"),
        ("x", "postgres", {"host": "h", "database": "d", "port": 70000}, {}, "port must be"),
        ("x", "postgres", {"host": "h", "database": "d"}, {"token": "t"}, "no secret token"),
        ("x", "sqlite", {"path": "/nowhere/at/all.db"}, {}, "does not exist"),
        ("x", "s3", {"bucket": "Not_A_Bucket"}, {}, "not an S3 bucket"),
        ("x", "s3", {"bucket": "data"}, {"key_id": "k"}, "both key_id and secret"),
    ],
)
def test_bad_sources_are_refused_with_a_reason(
    workbench: Workbench,
    name: str,
    kind: str,
    options: dict[str, object],
    secrets: dict[str, str],
    error: str,
) -> None:
    with pytest.raises(InvalidInput, match=error):
        workbench.sources.add(name, kind, options=options, secrets=secrets, by="ada")
    assert workbench.sources.list() == []


def test_names_are_unique_and_do_not_shadow_lake_schemas(
    workbench: Workbench, tmp_path: Path
) -> None:
    db = sqlite_file(tmp_path / "legacy.db")
    workbench.sources.add("legacy", "sqlite", options={"path": str(db)}, secrets={}, by="a")
    with pytest.raises(Conflict, match="already exists"):
        workbench.sources.add("legacy", "sqlite", options={"path": str(db)}, secrets={}, by="a")
    workbench.warehouse.run_write(lambda c: c.execute("CREATE SCHEMA sales"))
    with pytest.raises(Conflict, match="schema named 'sales'"):
        workbench.sources.add("sales", "sqlite", options={"path": str(db)}, secrets={}, by="a")
    with pytest.raises(NotFound):
        workbench.sources.remove("nope")


def test_s3_sources_are_validated_and_attached_through_httpfs(workbench: Workbench) -> None:
    options, secrets = clean(
        "s3",
        {"bucket": "team-data", "prefix": "/exports/2024/", "region": "eu-west-1"},
        {"key_id": "AKIDEXAMPLE", "secret": "s3cr3t-key-value"},
    )
    assert options == {
        "bucket": "team-data",
        "prefix": "exports/2024",
        "format": "parquet",
        "table": "_2024",
        "region": "eu-west-1",
    }
    with pytest.raises(InvalidInput, match="plain name"):
        clean("s3", {"bucket": "team-data", "table": "1x"}, {})
    attachment = build("lakefs", "s3", options, secrets)
    assert attachment.extensions == ("httpfs",)
    assert attachment.allowed_directories == ("s3://team-data/exports/2024/",)
    assert "s3cr3t-key-value" in attachment.secrets
    assert "s3cr3t-key-value" not in repr(attachment)
    # No S3 store here: the connection test fails, the key does not leak, nothing is stored.
    with pytest.raises(SourceError) as caught:
        workbench.sources.add(
            "lakefs",
            "s3",
            options={"bucket": "team-data", "endpoint": "127.0.0.1:9", "use_ssl": "false"},
            secrets={"key_id": "AKIDEXAMPLE", "secret": "s3cr3t-key-value"},
            by="ada",
        )
    assert "s3cr3t-key-value" not in str(caught.value)
    assert workbench.sources.list() == []


def test_atelier_own_databases_cannot_be_sources(workbench: Workbench) -> None:
    workbench.warehouse.tables()  # creates the lake's catalog file
    own = [workbench.warehouse.catalog.path]
    if workbench.db.engine.dialect.name == "sqlite":
        own.append(Path(str(workbench.db.engine.url.database)))
    for path in own:
        assert path is not None and path.exists()
        with pytest.raises(InvalidInput, match="Atelier's own metadata or catalog"):
            workbench.sources.add("own", "sqlite", options={"path": str(path)}, secrets={}, by="a")
    assert workbench.sources.list() == []
