"""Catalog URLs: SQLite paths and PostgreSQL URLs, passwords kept out of ATTACH strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.backends.warehouse import Warehouse, WarehouseError
from atelier.backends.warehouse.catalog import parse_catalog_url


@pytest.mark.parametrize(
    "url",
    ["{p}", "sqlite:{p}", "sqlite:///{p}"],
)
def test_sqlite_catalogs(url: str, tmp_path: Path) -> None:
    path = tmp_path / "lake.sqlite"

    catalog = parse_catalog_url(url.format(p=path))

    assert (catalog.kind, catalog.path, catalog.target) == ("sqlite", path, f"sqlite:{path}")
    assert catalog.attach_statements("lake", tmp_path / "data", read_only=True) == [
        f"ATTACH 'ducklake:sqlite:{path}' AS \"lake\" (DATA_PATH '{tmp_path / 'data'}/', READ_ONLY)"
    ]


def test_a_new_sqlite_catalog_uses_wal(tmp_path: Path) -> None:
    import sqlite3

    catalog = parse_catalog_url(tmp_path / "sub" / "lake.sqlite")
    catalog.prepare()

    with sqlite3.connect(tmp_path / "sub" / "lake.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_postgres_password_goes_into_a_secret() -> None:
    catalog = parse_catalog_url(
        "postgresql://atelier:p%40ss'word@db.internal:5433/lake?sslmode=require&schema=ducklake"
    )

    statements = catalog.attach_statements("lake", Path("/srv/lake"), read_only=False)

    assert catalog.kind == "postgres"
    assert catalog.target == "postgres:sslmode=require"
    assert catalog.metadata_schema == "ducklake"
    assert catalog.secrets == ("p@ss'word",)
    assert "p@ss" not in repr(catalog)
    secret, attach = statements
    assert secret.startswith("CREATE OR REPLACE TEMPORARY SECRET")
    assert "PASSWORD 'p@ss''word'" in secret and "PORT '5433'" in secret
    assert "p@ss" not in attach
    assert "META_SECRET 'atelier_catalog_lake'" in attach
    assert "METADATA_SCHEMA 'ducklake'" in attach


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/lake", "unsupported"),
        ("postgresql://localhost", "no database"),
        ("sqlite:", "empty"),
    ],
)
def test_bad_catalog_urls(url: str, message: str) -> None:
    with pytest.raises(WarehouseError, match=message):
        parse_catalog_url(url)


def test_an_unreachable_catalog_is_reported_without_its_password(
    tmp_path: Path, extension_dir: Path
) -> None:
    warehouse = Warehouse(
        "postgresql://someone:hunter2-secret@127.0.0.1:1/lake",
        tmp_path / "data",
        extension_directory=extension_dir,
    )

    with pytest.raises(WarehouseError) as caught, warehouse.connect():
        pass

    assert "could not open the warehouse catalog" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)
    assert caught.value.__context__ is None
    assert "hunter2-secret" not in repr(warehouse)
