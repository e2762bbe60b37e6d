"""User SQL runs on a restricted connection: nothing that reads server files, attaches
databases, installs or loads extensions, writes files or changes settings gets through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from atelier.backends.metadata import Database
from atelier.backends.warehouse import QueryRefused, Warehouse
from atelier.config.settings import QuerySettings
from atelier.errors import PermissionDenied
from atelier.services.query import QueryService
from tests.services.query.running import StandInSources

#: SQL a user may not run, by what it tries; ``{tmp}`` is a folder with a real Parquet file.
REFUSED = {
    "read /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read any parquet": "SELECT * FROM read_parquet('{tmp}/secret.parquet')",
    "read a file by name": "SELECT * FROM '{tmp}/secret.parquet'",
    "read_text": "SELECT * FROM read_text('/etc/hosts')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "attach": "ATTACH '{tmp}/other.db' AS other",
    "attach memory": "ATTACH ':memory:' AS scratch",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "copy to": "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "set": "SET enable_external_access = true",
    "set threads": "SET threads = 1",
    "pragma": "PRAGMA threads = 1",
    "pragma memory": "PRAGMA memory_limit = '100GB'",
    "reset": "RESET lock_configuration",
    "write": "CREATE TABLE shop.stolen AS SELECT 1 AS x",
    "sqlite scan": "SELECT * FROM sqlite_scan('{tmp}/other.db', 't')",
}
REASONS = ("disabled by configuration", "may not run here", "not available")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryService]:
    """One service for every refusal: what is refused does not depend on the metadata
    database (the service tests run on both), and a lake per case would be slow."""
    root = tmp_path_factory.mktemp("refusals")
    db = Database(f"sqlite:///{root / 'meta.db'}")
    db.migrate()
    warehouse = Warehouse(root / "lake.sqlite", root / "lake", extension_directory=root / "ext")
    warehouse.run_write(lambda c: c.execute("CREATE SCHEMA shop"))
    yield QueryService(db, warehouse, StandInSources(), QuerySettings(memory_limit="1GB"))
    db.dispose()


def refused_sql(what: str, tmp_path: Path) -> str:
    secret = tmp_path / "secret.parquet"
    if not secret.exists():
        duckdb.sql(f"COPY (SELECT 'hunter2' AS password) TO '{secret}'")
    return REFUSED[what].format(tmp=tmp_path)


@pytest.mark.parametrize("what", list(REFUSED))
def test_refused(shared: QueryService, tmp_path: Path, what: str) -> None:
    service = shared
    sql = refused_sql(what, tmp_path)
    with pytest.raises(QueryRefused) as refused:
        service.run(sql, user="ada").to_arrow()
    assert isinstance(refused.value, PermissionDenied) and refused.value.status_code == 403
    message = str(refused.value)
    assert any(reason in message for reason in REASONS), message
    entry = service.history("ada")[0]
    assert entry.sql == sql and entry.status == "error" and entry.error == message
    assert not (tmp_path / "out.csv").exists()


def test_settings_stay_as_the_server_set_them(service: QueryService) -> None:
    table = service.run(
        "SELECT current_setting('enable_external_access') AS external, "
        "current_setting('lock_configuration') AS locked, "
        "current_setting('memory_limit') AS memory",
        user="ada",
    ).to_arrow()
    assert table.to_pylist() == [{"external": False, "locked": True, "memory": "953.6 MiB"}]
