"""Extensions load from the installed wheels, offline, under the names DuckDB expects."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import pytest

from atelier.backends.warehouse import ExtensionNotInstalled
from atelier.backends.warehouse.extensions import (
    CANONICAL_NAMES,
    duckdb_version,
    link_extension,
    open_connection,
    wheel_file,
)


@pytest.mark.parametrize("name", sorted(CANONICAL_NAMES))
def test_every_extension_wheel_is_found(name: str) -> None:
    path = wheel_file(name)

    assert path.is_file()
    assert path.parent.name == f"v{duckdb_version()}"


def test_scanners_load_and_nothing_is_downloaded(extension_dir: Path) -> None:
    connection = open_connection(extension_dir, ["ducklake", "postgres", "mysql", "sqlite"])
    try:
        loaded = {
            row[0]
            for row in connection.execute(
                "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
            ).fetchall()
        }
        settings = dict(
            connection.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('autoinstall_known_extensions', 'autoload_known_extensions', "
                "'extension_directory')"
            ).fetchall()
        )
    finally:
        connection.close()

    assert {"ducklake", "postgres_scanner", "mysql_scanner", "sqlite_scanner"} <= loaded
    assert settings == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "extension_directory": str(extension_dir),
    }


def test_an_unloaded_extension_is_not_fetched(extension_dir: Path) -> None:
    connection = open_connection(extension_dir)
    try:
        with pytest.raises(duckdb.Error):
            connection.execute("ATTACH 'dbname=x' AS p (TYPE postgres)")
    finally:
        connection.close()


@pytest.mark.parametrize("name", ["postgres", "mysql", "sqlite"])
def test_the_wheel_file_name_is_not_the_name_duckdb_expects(name: str) -> None:
    """The quirk behind the links: loaded as ``<name>.duckdb_extension`` the entry point
    ``<name>_duckdb_cpp_init`` is missing (it is ``<name>_scanner_duckdb_cpp_init``)."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        with pytest.raises(duckdb.Error, match="entrypoint"):
            connection.execute(f"LOAD '{wheel_file(name)}'")
    finally:
        connection.close()


def test_links_are_made_once_and_point_at_the_wheel(extension_dir: Path) -> None:
    first = link_extension("sqlite", extension_dir)
    second = link_extension("sqlite", extension_dir)

    assert first == second
    assert first.name == "sqlite_scanner.duckdb_extension"
    assert first.resolve() == wheel_file("sqlite").resolve()


def test_a_missing_wheel_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_mysql(name: str, *args: object) -> object:
        return None if name == "duckdb_extension_mysql" else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", without_mysql)

    with pytest.raises(ExtensionNotInstalled, match=r"pip install 'duckdb-extension-mysql==1\."):
        wheel_file("mysql")


def test_an_unknown_extension_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown DuckDB extension"):
        wheel_file("spatial")
