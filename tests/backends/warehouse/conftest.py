"""Warehouse fixtures: a lake per test on a SQLite catalog and on a real PostgreSQL catalog.

PostgreSQL comes from ``ATELIER_TEST_POSTGRES_URL`` (one fresh database per test module, one
DuckLake schema per test); MariaDB/MySQL from ``ATELIER_TEST_MYSQL_URL``. Unset: the tests are
skipped with the reason, except under ``CI``, where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.backends.warehouse import Warehouse
from tests.conftest import fresh_postgres_database, required_env

MYSQL_ENV = "ATELIER_TEST_MYSQL_URL"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test module; dropped afterwards."""
    with fresh_postgres_database("atelier_wh") as url:
        yield url


@pytest.fixture(scope="session")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("duckdb-extensions")


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog of a new, empty lake: a SQLite file, or a schema of a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.sqlite")
    base: str = request.getfixturevalue("postgres_url")
    return f"{base}{'&' if '?' in base else '?'}schema=lake_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def warehouse(catalog_url: str, tmp_path: Path, extension_dir: Path) -> Iterator[Warehouse]:
    lake = Warehouse(catalog_url, tmp_path / "data", extension_directory=extension_dir)
    yield lake
    lake.close()


@pytest.fixture
def mysql_url() -> str:
    """The MariaDB/MySQL test database, e.g. ``mysql://root@127.0.0.1:3306/test``."""
    return required_env(MYSQL_ENV)
