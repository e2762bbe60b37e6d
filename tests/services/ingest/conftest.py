"""Ingest fixtures: a fresh lake (SQLite catalog; PostgreSQL where a test asks) per test, and
small files written on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.backends.warehouse import Warehouse
from atelier.services.ingest import Ingest


@pytest.fixture(scope="session")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("duckdb-extensions")


def make_ingest(catalog: str, root: Path, extension_dir: Path) -> Ingest:
    warehouse = Warehouse(catalog, root / "lake", extension_directory=extension_dir)
    return Ingest(None, warehouse, root / "uploads")  # type: ignore[arg-type]


@pytest.fixture
def ingest(tmp_path: Path, extension_dir: Path) -> Ingest:
    return make_ingest(str(tmp_path / "lake.sqlite"), tmp_path, extension_dir)


@pytest.fixture(params=["sqlite", "postgres"])
def any_ingest(request: pytest.FixtureRequest, tmp_path: Path, extension_dir: Path) -> Ingest:
    """Ingest on a SQLite catalog and on a PostgreSQL one (skipped locally without one)."""
    if request.param == "sqlite":
        return make_ingest(str(tmp_path / "lake.sqlite"), tmp_path, extension_dir)
    url: str = request.getfixturevalue("postgres_database")
    return make_ingest(url, tmp_path, extension_dir)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def staged_files(ingest: Ingest) -> list[Path]:
    """Upload folders left in the lake (committed ones hold data, failed ones must be gone)."""
    return sorted(ingest.warehouse.data_path.glob("*/*/upload-*"))
