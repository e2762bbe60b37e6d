"""User SQL reaches nothing outside the lake: attacks on the restricted connections.

Each attack tries to read, list, write or reconfigure something a query must not reach: the
spill (temp) directory, the catalog file, the lake's raw files, the extension directory, files
behind a symlink, the server's settings; by every spelling DuckDB accepts (table functions,
``FROM 'path'``, ``file://``, ``~``, relative paths, quoted and qualified names, PIVOT,
EXPLAIN ANALYZE, PRAGMA in three forms). All must be refused, and a refusal names the
statement the user wrote.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from atelier.backends.metadata import Database
from atelier.backends.warehouse import QueryRefused, Warehouse, WarehouseError
from atelier.config.settings import QuerySettings
from atelier.errors import InvalidInput
from atelier.services.query import QueryService
from tests.services.query.running import StandInSources


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sql-escape")


@pytest.fixture(scope="module")
def warehouse(root: Path) -> Warehouse:
    lake = Warehouse(root / "lake.sqlite", root / "lake", extension_directory=root / "ext")
    lake.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.orders AS "
            "SELECT * FROM (VALUES (1, 'north', 9.5), (2, 'south', 20.0)) t(id, region, total); "
            # Big enough to be written as Parquet rather than inlined in the catalog.
            "CREATE TABLE shop.big AS SELECT range AS id FROM range(5000)"
        )
    )
    # A file someone planted in the lake folder, and a symlink out of it.
    (root / "lake" / "planted.csv").write_text("secret\nhunter2\n")
    (root / "outside").mkdir()
    (root / "outside" / "passwd.csv").write_text("user,password\nroot,hunter2\n")
    os.symlink(root / "outside", root / "lake" / "link")
    return lake


@pytest.fixture(scope="module")
def service(root: Path, warehouse: Warehouse) -> Iterator[QueryService]:
    db = Database(f"sqlite:///{root / 'meta.db'}")
    db.migrate()
    yield QueryService(db, warehouse, StandInSources(), QuerySettings(memory_limit="1GB"))
    db.dispose()


def lake_file(warehouse: Warehouse) -> Path:
    return next(warehouse.data_path.glob("**/*.parquet"))


#: Attacks, with ``{root}`` (the workspace), ``{lake}``, ``{file}`` (a lake Parquet file),
#: ``{catalog}`` and ``{ext}`` filled in.
ATTACKS = {
    # The catalog file is in DuckDB's allowed_paths: every reader must still be refused.
    "catalog read_blob": "SELECT * FROM read_blob('{catalog}')",
    "catalog read_text": "SELECT * FROM read_text('{catalog}')",
    "catalog read_csv": "SELECT * FROM read_csv('{catalog}', all_varchar = true)",
    "catalog sniff_csv": "SELECT * FROM sniff_csv('{catalog}')",
    "catalog by name": "SELECT * FROM '{catalog}'",
    "catalog file url": "SELECT * FROM read_blob('file://{catalog}')",
    "catalog wal": "SELECT * FROM read_blob('{catalog}-wal')",
    "catalog attach": "ATTACH '{catalog}' AS cat (TYPE sqlite)",
    "catalog sqlite_scan": "SELECT * FROM sqlite_scan('{catalog}', 'ducklake_table')",
    "catalog quoted name": "SELECT * FROM \"read_blob\"('{catalog}')",
    "catalog qualified": "SELECT * FROM system.main.read_blob('{catalog}')",
    "catalog in a subquery": "SELECT (SELECT count(*) FROM read_blob('{catalog}')) AS n",
    "catalog in a CTE": "WITH c AS (FROM read_blob('{catalog}')) SELECT * FROM c",
    "catalog describe": "DESCRIBE '{catalog}'",
    "catalog summarize": "SUMMARIZE SELECT * FROM read_text('{catalog}')",
    # The lake folder: its raw files are read through tables only.
    "lake glob": "SELECT * FROM glob('{lake}/**')",
    "lake read_parquet": "SELECT * FROM read_parquet('{file}')",
    "lake parquet_metadata": "SELECT * FROM parquet_metadata('{file}')",
    "lake parquet_schema": "SELECT * FROM parquet_schema('{file}')",
    "lake file by name": "SELECT * FROM '{file}'",
    "lake planted file": "SELECT * FROM read_csv('{lake}/planted.csv')",
    "lake planted by name": "SELECT * FROM '{lake}/planted.csv'",
    "lake symlink read_text": "SELECT * FROM read_text('{lake}/link/passwd.csv')",
    "lake symlink by name": "SELECT * FROM '{lake}/link/passwd.csv'",
    "lake symlink glob": "SELECT * FROM glob('{lake}/link/*')",
    "lake dotdot": "SELECT * FROM read_text('{lake}/../lake.sqlite')",
    # Other places of the server.
    "extension dir": "SELECT * FROM glob('{ext}/**')",
    "home": "SELECT * FROM read_text('~/.bashrc')",
    "relative": "SELECT * FROM read_blob('lake.sqlite')",
    "relative temp": "SELECT * FROM glob('.tmp/**')",
    "etc by name": "FROM '/etc/passwd.csv'",
    "json reader": "SELECT * FROM read_json_objects('{lake}/planted.csv')",
    "read_duckdb": "SELECT * FROM read_duckdb('{catalog}')",
    "query string": "SELECT * FROM query('SELECT * FROM read_text(''{catalog}'')')",
    # DuckLake's catalog database, attached under its own name.
    "metadata table": "SELECT * FROM __ducklake_metadata_lake.ducklake_metadata",
    "metadata quoted": 'SELECT * FROM "__DUCKLAKE_METADATA_LAKE".main.ducklake_data_file',
    "metadata show": "SHOW TABLES FROM __ducklake_metadata_lake",
    "metadata describe": "DESCRIBE __ducklake_metadata_lake.ducklake_snapshot",
    "metadata summarize": "SUMMARIZE __ducklake_metadata_lake.ducklake_table",
    "metadata join": "SELECT * FROM shop.orders, __ducklake_metadata_lake.ducklake_schema",
    "metadata pivot": "PIVOT __ducklake_metadata_lake.ducklake_metadata ON key USING count(*)",
    # Discovering paths and settings.
    "duckdb_settings": "SELECT name, value FROM duckdb_settings()",
    "duckdb_databases": "SELECT path FROM duckdb_databases()",
    "duckdb_extensions": "SELECT install_path FROM duckdb_extensions()",
    "duckdb_temporary_files": "SELECT * FROM duckdb_temporary_files()",
    # Writing and reconfiguring.
    "copy to lake": "COPY (SELECT 1) TO '{lake}/x.csv'",
    "explain analyze copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/x.csv'",
    "set temp_directory": "SET temp_directory = '{lake}'",
    "reset temp_directory": "RESET temp_directory",
    "set allowed": "SET allowed_directories = ['/']",
    "set global": "SET GLOBAL enable_external_access = true",
    "export": "EXPORT DATABASE '{lake}/dump'",
    # PRAGMA in every spelling.
    "pragma version": "PRAGMA version",
    "pragma database_list": "PRAGMA database_list",
    "pragma set": "PRAGMA memory_limit = '100GB'",
    "pragma profiling output": "PRAGMA profiling_output = '{lake}/profile.json'",
    "call pragma": "CALL pragma_database_size()",
    "select pragma": "SELECT * FROM pragma_database_size()",
    "select pragma in cte": "WITH p AS (SELECT * FROM pragma_storage_info('shop.orders')) FROM p",
    # PIVOT without IN is checked on its tokens.
    "pivot read_text": "PIVOT (FROM read_text('{catalog}')) ON content USING count(*)",
    "pivot over a file": "PIVOT '{file}' ON region USING sum(total)",
    "pivot sqlite_scan": "PIVOT sqlite_scan('{catalog}', 'x') ON a USING count(*)",
    "pivot settings": "PIVOT duckdb_settings() ON name USING first(value)",
    "pivot quoted reader": "PIVOT (FROM \"read_blob\"('{catalog}')) ON filename USING count(*)",
}


def attack_sql(what: str, root: Path, warehouse: Warehouse) -> str:
    return ATTACKS[what].format(
        root=root,
        lake=warehouse.data_path,
        file=lake_file(warehouse),
        catalog=root / "lake.sqlite",
        ext=root / "ext",
    )


@pytest.mark.parametrize("what", list(ATTACKS))
def test_attack_is_refused(
    service: QueryService,
    warehouse: Warehouse,
    root: Path,
    what: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Relative paths resolve against the server's working directory: make it the workspace.
    monkeypatch.chdir(root)
    sql = attack_sql(what, root, warehouse)
    with pytest.raises(QueryRefused) as refused:
        service.run(sql, user="eve").to_arrow()
    assert "hunter2" not in str(refused.value)
    assert not (warehouse.data_path / "x.csv").exists()
    assert not (warehouse.data_path / "dump").exists()
    assert not (warehouse.data_path / "profile.json").exists()


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("INSTALL httpfs", "INSTALL"),
        ("FORCE INSTALL httpfs", "FORCE INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("PRAGMA version", "PRAGMA"),
        ("RESET threads", "RESET"),
        ("SET threads = 1", "SET"),
        ("USE memory", "USE"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("DETACH lake", "DETACH"),
        ("TRUNCATE shop.orders", "TRUNCATE"),
        ("  -- a comment first\n  install httpfs", "INSTALL"),
        ("WITH x AS (SELECT 1) DELETE FROM shop.orders", "DELETE"),
        ("EXPLAIN ANALYZE INSERT INTO shop.orders VALUES (3, 'x', 1)", "INSERT"),
    ],
)
def test_refusal_names_the_statement_written(service: QueryService, sql: str, named: str) -> None:
    with pytest.raises(QueryRefused) as refused:
        service.run(sql, user="eve").to_arrow()
    assert str(refused.value).startswith(f"{named} statements may not run here"), refused.value


@pytest.mark.parametrize(
    "sql",
    [
        "PIVOT {orders} ON region USING sum(total)",
        "SELECT * FROM (PIVOT {orders} ON region USING sum(total))",
        "WITH p AS (PIVOT {orders} ON region USING sum(total)) SELECT * FROM p",
        "PIVOT {orders} ON region IN ('north', 'south') USING sum(total)",
    ],
)
def test_a_valid_pivot_runs_as_one_statement(service: QueryService, sql: str) -> None:
    orders = "(SELECT region, total FROM shop.orders)"
    rows = service.run(sql.format(orders=orders), user="ada").to_arrow().to_pylist()
    assert [{k: float(v) for k, v in row.items()} for row in rows] == [
        {"north": 9.5, "south": 20.0}
    ]


def test_two_pivots_are_two_statements(service: QueryService) -> None:
    sql = "PIVOT shop.orders ON region USING sum(total); PIVOT shop.orders ON id USING count(*)"
    with pytest.raises(InvalidInput, match=r"^2 statements given"):
        service.run(sql, user="ada")


def test_a_semicolon_in_a_string_or_comment_is_one_statement(service: QueryService) -> None:
    sql = "SELECT ';' AS a, $$;$$ AS b -- ; not a statement\n;"
    assert service.run(sql, user="ada").to_arrow().to_pylist() == [{"a": ";", "b": ";"}]


def test_queries_spill_into_a_private_folder_of_their_own(
    warehouse: Warehouse, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    with warehouse.user_connection() as first, warehouse.user_connection() as second:
        spills = [
            Path(c.execute("SELECT current_setting('temp_directory')").fetchone()[0])
            for c in (first, second)
        ]
        allowed = first.execute("SELECT current_setting('allowed_directories')").fetchone()[0]
        # Another query's spill folder is not readable, though it sits beside this one's.
        with pytest.raises(QueryRefused):
            first.execute(f"SELECT * FROM glob('{spills[1]}/*')")
        for spill in spills:
            assert spill.parent == warehouse.spill_directory
            assert stat.S_IMODE(spill.stat().st_mode) == 0o700
    assert stat.S_IMODE(warehouse.spill_directory.stat().st_mode) == 0o700
    assert sorted(allowed) == sorted([f"{spills[0]}/", f"{warehouse.data_path}/"])
    # Nothing under the server's working directory, nothing left behind.
    assert not (root / ".tmp").exists()
    assert not any(s.exists() for s in spills)


def test_a_spilling_query_works_and_cleans_up(warehouse: Warehouse) -> None:
    with warehouse.user_connection(settings={"memory_limit": "64MB", "threads": 1}) as user:
        spill = Path(user.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        rows = user.execute(
            "SELECT count(DISTINCT s) FROM (SELECT range::VARCHAR || 'x' AS s "
            "FROM range(3000000) ORDER BY s)"
        ).fetchall()
    assert rows == [(3_000_000,)]
    assert not spill.exists()


@pytest.mark.parametrize("inside", ["catalog", "extensions", "spill"])
def test_a_data_path_holding_private_files_is_refused(tmp_path: Path, inside: str) -> None:
    data = tmp_path / "data"
    catalog = data / "lake.sqlite" if inside == "catalog" else tmp_path / "lake.sqlite"
    extensions = data / "ext" if inside == "extensions" else tmp_path / "ext"
    spill = data / "spill" if inside == "spill" else tmp_path / "spill"
    lake = Warehouse(catalog, data, extension_directory=extensions, spill_directory=spill)
    with (
        pytest.raises(WarehouseError, match=r"user SQL may read .*data.*holds"),
        lake.user_connection(),
    ):
        pass


def test_direct_duckdb_shows_what_the_sandbox_closes(root: Path, warehouse: Warehouse) -> None:
    """The attack is real: without the guard, DuckDB itself lets the catalog file be read."""
    with warehouse.user_connection() as user:
        raw = user.connection.execute(
            f"SELECT size FROM read_blob('{root / 'lake.sqlite'}')"
        ).fetchone()
    assert raw is not None and raw[0] > 0
    with pytest.raises(duckdb.PermissionException):
        duckdb.connect(config={"enable_external_access": False}).execute(
            f"SELECT * FROM read_blob('{root / 'lake.sqlite'}')"
        )


def test_on_a_postgres_catalog_the_catalog_is_out_of_reach(
    postgres_database: str, tmp_path: Path
) -> None:
    """No catalog file to read; the catalog's database (every table in it, read with the
    server's role) and its server are refused by every spelling."""
    import psycopg

    with psycopg.connect(postgres_database) as pg:
        pg.execute("CREATE TABLE private_things AS SELECT 'hunter2' AS secret")
    lake = Warehouse(postgres_database, tmp_path / "lake", extension_directory=tmp_path / "ext")
    lake.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
    dsn = postgres_database
    with lake.user_connection() as user:
        paths = user.execute("SELECT current_setting('allowed_paths')").fetchone()[0]
        assert not any(Path(p).exists() for p in paths)
        assert user.execute("SELECT x FROM t").fetchall() == [(1,)]
        for sql in [
            "SELECT * FROM __ducklake_metadata_lake.public.private_things",
            "SELECT * FROM __ducklake_metadata_lake.private_things",
            "FROM __ducklake_metadata_lake.ducklake_metadata",
            f"SELECT * FROM postgres_query('{dsn}', 'SELECT * FROM private_things')",
            f"SELECT * FROM postgres_scan('{dsn}', 'public', 'private_things')",
            f"ATTACH '{dsn}' AS cat (TYPE postgres)",
            f"PIVOT postgres_query('{dsn}', 'SELECT 1 AS a') ON a USING count(*)",
        ]:
            with pytest.raises(QueryRefused) as refused:
                user.execute(sql).fetchall()
            assert "hunter2" not in str(refused.value)
