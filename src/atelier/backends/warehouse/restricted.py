"""Restricted DuckDB connections for user SQL.

Everything the connection needs (the lake, read-only sources, settings) is attached first;
then external access is switched off, with only the lake's data folder (and file sources)
readable, and the configuration is locked so user SQL cannot switch it back on. Each statement
also passes :func:`~atelier.backends.warehouse.guard.check_user_sql`.

DuckDB makes its temp directory readable too, so each user connection spills into a folder of
its own (0700, removed with the connection) outside every readable folder; and a readable
folder must not hold anything but data (:func:`check_readable_layout`): not the catalog file,
the extensions or the spill folders, which a misconfigured ``data_path`` could contain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.backends.warehouse.errors import QueryRefused, WarehouseError
from atelier.backends.warehouse.guard import check_user_sql
from atelier.backends.warehouse.masking import Masking, rewrite
from atelier.backends.warehouse.sql import ident, literal

if TYPE_CHECKING:
    import duckdb

SettingValue = str | int | float | bool


def restrict(
    connection: duckdb.DuckDBPyConnection,
    *,
    allowed_directories: Iterable[str] = (),
    allowed_paths: Iterable[str] = (),
    settings: Mapping[str, SettingValue] | None = None,
) -> None:
    """Apply ``settings`` (memory_limit, threads, …), then lock the connection down for good."""
    for name, value in (settings or {}).items():
        connection.execute(f"SET {ident(name)} = {_setting_literal(value)}")
    # Directories are prefixes: without the trailing slash "/data" would also open "/data2".
    directories = [d if d.endswith("/") else d + "/" for d in allowed_directories]
    connection.execute("SET allowed_directories = ?", [directories])
    connection.execute("SET allowed_paths = ?", [list(allowed_paths)])
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def check_readable_layout(directories: Iterable[str], private: Sequence[tuple[str, Path]]) -> None:
    """Refuse a readable folder that is, or holds, one of the ``private`` paths."""
    for directory in directories:
        folder = Path(directory).expanduser().resolve()
        for what, path in private:
            target = Path(path).expanduser().resolve()
            if target == folder or folder in target.parents:
                raise WarehouseError(
                    f"user SQL may read {folder}, which holds {what} ({target}): give the "
                    "lake's data (warehouse.data_path) and file sources folders of their own"
                )


def _setting_literal(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return literal(value)


class UserConnection:
    """A restricted DuckDB connection; user SQL goes through :meth:`execute` only.

    The result of :meth:`execute` is DuckDB's cursor: ``to_arrow_table()``,
    ``to_arrow_reader()`` (streaming), ``df()``, ``pl()``, ``fetchall()``.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        masking: Masking | None = None,
        lake: str = "lake",
    ) -> None:
        self._connection = connection
        self._masking = masking or Masking()
        self._lake = lake

    def execute(self, sql: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        """Check ``sql``, read its masked tables through their policy subqueries (see
        :mod:`.masking`), then run it; a sandbox refusal becomes :class:`QueryRefused`."""
        import duckdb

        check_user_sql(self._connection, sql)
        try:
            masked = rewrite(self._connection, sql, self._masking, self._lake)
            if masked == sql:
                return self._connection.execute(sql, parameters)
            try:
                return self._connection.execute(masked, parameters)
            except duckdb.Error as error:
                # DuckDB quotes the statement it ran, the rewritten one: the position would
                # point into the policy subqueries, so the message keeps only its first part.
                message = str(error).split("\n\nLINE ", 1)[0]
                if message == str(error):
                    raise
                raise type(error)(message) from None
        except duckdb.PermissionException as error:
            raise QueryRefused(str(error).removeprefix("Permission Error: ")) from None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The restricted connection itself, for trusted SQL that Atelier builds (the feature
        engine): the sandbox still holds, only the per-statement check is skipped. Never pass
        it user SQL; that goes through :meth:`execute`."""
        return self._connection

    def interrupt(self) -> None:
        """Stop the statement running on this connection; safe to call from another thread."""
        self._connection.interrupt()

    def close(self) -> None:
        self._connection.close()
