"""DuckDB extensions from installed wheels, loaded by absolute path; nothing is downloaded.

Each ``duckdb-extension-<name>`` wheel ships
``duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension``. DuckDB derives
the entry point it calls from the file name (``<stem>_duckdb_cpp_init``), and the scanner
extensions export ``postgres_scanner_…``, ``mysql_scanner_…`` and ``sqlite_scanner_…``; so every
file is linked into a private directory under its canonical name and loaded from there.

Connections are opened with auto-install and auto-load off, persistent secrets off (nothing is
read from ``~/.duckdb``) and ``extension_directory`` pointing at that private directory, which
is created ``0700`` so nobody else can swap a file in.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.backends.warehouse.errors import ExtensionNotInstalled
from atelier.backends.warehouse.sql import literal

if TYPE_CHECKING:
    import duckdb

# Wheel file stem -> the name DuckDB must see (the one its entry point is built from).
CANONICAL_NAMES: dict[str, str] = {
    "ducklake": "ducklake",
    "postgres": "postgres_scanner",
    "mysql": "mysql_scanner",
    "sqlite": "sqlite_scanner",
    "httpfs": "httpfs",
    "json": "json",
    "parquet": "parquet",
    "icu": "icu",
}


def duckdb_version() -> str:
    """The installed DuckDB version, which the extension wheels must match exactly."""
    import duckdb

    return str(duckdb.__version__)


def _pip_name(name: str) -> str:
    return f"duckdb-extension-{name}=={duckdb_version()}"


def _canonical(name: str) -> str:
    try:
        return CANONICAL_NAMES[name]
    except KeyError:
        known = ", ".join(sorted(CANONICAL_NAMES))
        raise ValueError(f"unknown DuckDB extension {name!r} (known: {known})") from None


def wheel_file(name: str) -> Path:
    """The extension file shipped in the ``duckdb-extension-<name>`` wheel for this DuckDB."""
    _canonical(name)
    version = duckdb_version()
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionNotInstalled(
            f"the DuckDB extension {name!r} is not installed: "
            f"pip install '{_pip_name(name)}' (or the 'atelier[data]' extra)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
        if candidate.is_file():
            return candidate
    raise ExtensionNotInstalled(
        f"the installed DuckDB extension {name!r} was not built for DuckDB {version}: "
        f"pip install '{_pip_name(name)}'"
    )


def default_extension_directory() -> Path:
    """Per-user cache for the links; private so nobody else can swap an extension in."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atelier" / "duckdb-extensions"


def link_extension(name: str, directory: Path) -> Path:
    """Link (or copy, where links are not allowed) the wheel file under its canonical name."""
    source = wheel_file(name)
    folder = directory / f"v{duckdb_version()}"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{_canonical(name)}.duckdb_extension"
    if target.is_symlink() and os.readlink(target) == str(source):
        return target
    # Several processes may get here at once: build aside, then swap in atomically.
    staging = folder / f".{target.name}.{uuid.uuid4().hex}"
    try:
        os.symlink(source, staging)
    except OSError:
        shutil.copyfile(source, staging)
    os.replace(staging, target)
    return target


def connection_config(
    extension_directory: Path,
) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB settings that keep a connection offline and away from the user's ``~/.duckdb``."""
    return {
        # The files are the installed wheels' own, trusted like the duckdb module beside them;
        # DuckDB's signature check re-hashes them (~70 MB, 0.15 s) on every new connection.
        # User connections cannot LOAD anything either way (external access is off).
        "allow_unsigned_extensions": True,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_persistent_secrets": False,
        "extension_directory": str(extension_directory),
    }


def load_extensions(
    connection: duckdb.DuckDBPyConnection, names: Iterable[str], directory: Path
) -> None:
    """Load each named extension unless DuckDB already has it (parquet, json and icu are
    statically linked into the Python wheel)."""
    rows = connection.execute(
        "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
    ).fetchall()
    loaded = {str(row[0]) for row in rows}
    for name in names:
        if _canonical(name) in loaded:
            continue
        connection.execute(f"LOAD {literal(str(link_extension(name, directory)))}")
        loaded.add(_canonical(name))


def open_connection(
    extension_directory: Path, extensions: Iterable[str] = ()
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB database with the given extensions loaded from wheels."""
    import duckdb

    extension_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    connection = duckdb.connect(config=connection_config(extension_directory))
    try:
        # A progress bar on stdout is noise in a server and in tests.
        connection.execute("SET enable_progress_bar = false")
        load_extensions(connection, extensions, extension_directory)
    except BaseException:
        connection.close()
        raise
    return connection
