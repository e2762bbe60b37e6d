"""The warehouse: DuckDB with a DuckLake attached as ``lake``, on a SQLite or PostgreSQL catalog.

Every connection is a fresh in-memory DuckDB database (a few tens of milliseconds with the
extensions loaded): a user connection's restrictions are database-wide, so trusted and user
work never share one, and nothing leaks from one request into the next. The one exception is
the lake's own catalog reads (:meth:`Warehouse.inspect`: tables, columns, versions), fixed
queries that change nothing on a session: their sessions are kept for the next such read, as
each new transaction on them sees the lake's latest snapshot.

The Parquet files live in a local folder or under an ``s3://`` URL of an
:class:`~atelier.backends.storage.ObjectStore`. On S3 each connection gets a temporary DuckDB
secret scoped to the lake's URL only, created before a user connection is locked: user SQL
cannot print it (``duckdb_secrets()`` is refused, and redacts anyway), cannot switch the
unredacted view on (the configuration is locked), and can read nothing outside the lake's URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from atelier.backends.storage import ObjectStore, is_s3_url
from atelier.backends.warehouse.catalog import parse_catalog_url
from atelier.backends.warehouse.errors import WarehouseError, redact
from atelier.backends.warehouse.extensions import default_extension_directory, open_connection
from atelier.backends.warehouse.history import Snapshot, table_snapshots
from atelier.backends.warehouse.masking import Masking
from atelier.backends.warehouse.restricted import (
    SettingValue,
    UserConnection,
    check_readable_layout,
    restrict,
)
from atelier.backends.warehouse.retry import DEFAULT_POLICY, RetryPolicy, is_transient, retry
from atelier.backends.warehouse.sources import Attachment
from atelier.backends.warehouse.sql import ident, literal, qualified
from atelier.backends.warehouse.tables import TableInfo, list_tables
from atelier.errors import NotFound

if TYPE_CHECKING:
    import duckdb
    import pyarrow

T = TypeVar("T")

_NOT_CREATED = "creating a new ducklake is explicitly disabled"
_SECRET = "atelier_lake_storage"
#: Idle sessions kept for :meth:`Warehouse.inspect` (one per thread reading at once is
#: opened; more than this many idle ones are closed).
KEPT_SESSIONS = 2
#: A forked child's copies of its parent's kept sessions (see ``Warehouse._own_kept``).
_INHERITED: list[duckdb.DuckDBPyConnection] = []


class Warehouse:
    """DuckLake tables under ``data_path`` (Parquet) with their catalog at ``catalog_url``."""

    def __init__(
        self,
        catalog_url: str | Path,
        data_path: str | Path,
        *,
        alias: str = "lake",
        extension_directory: str | Path | None = None,
        spill_directory: str | Path | None = None,
        retry_policy: RetryPolicy = DEFAULT_POLICY,
        storage: ObjectStore | None = None,
    ) -> None:
        self.catalog = parse_catalog_url(catalog_url)
        self.storage = storage
        self._local: Path | None = None
        if is_s3_url(data_path):
            if storage is None:
                raise WarehouseError(
                    f"the lake's data_path {data_path} is on S3: configure [storage] to reach it"
                )
            #: Where the Parquet files are: a local folder, or an s3:// URL (no trailing /).
            self.data_url = str(data_path).rstrip("/")
        else:
            self._local = Path(data_path).expanduser().resolve()
            self.data_url = str(self._local)
        self.alias = alias
        self.extension_directory = Path(extension_directory or default_extension_directory())
        #: Where user queries spill: one private folder per connection under it, never inside
        #: a folder user SQL may read (DuckDB's default is ``.tmp`` in the working directory).
        self.spill_directory = (
            Path(spill_directory or self.extension_directory.parent / "duckdb_spill")
            .expanduser()
            .resolve()
        )
        self.retry_policy = retry_policy
        self._meta = self.catalog.metadata_tables(alias)
        self._kept: list[duckdb.DuckDBPyConnection] = []
        self._kept_lock = threading.Lock()
        self._kept_pid = os.getpid()

    def __repr__(self) -> str:
        return f"Warehouse({self.catalog.kind} catalog, data_path={self.data_url!r})"

    @property
    def data_path(self) -> Path:
        """The local folder of the Parquet files; a lake on S3 has none (see ``data_url``)."""
        if self._local is None:
            raise WarehouseError(f"the lake's data is on S3 ({self.data_url}), not in a folder")
        return self._local

    @property
    def on_object_storage(self) -> bool:
        return self._local is None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any error text (catalog password, storage credentials)."""
        return (*self.catalog.secrets, *(self.storage.secrets if self.storage else ()))

    # -- staged files (written before a commit registers them) ---------------------------

    def staging_location(self, schema: str, table: str, name: str) -> str:
        """A new folder for files a write stages before registering them with the table."""
        location = f"{self.data_url}/{schema}/{table}/{name}"
        if self._local is not None:
            Path(location).mkdir(parents=True, exist_ok=True)
        return location

    def discard_staged(self, location: str) -> None:
        """Remove a staging folder and what it holds (a failed or abandoned write)."""
        if not location.startswith(self.data_url + "/"):
            raise WarehouseError(f"{location} is not a staging folder of this lake")
        if self._local is not None:
            shutil.rmtree(location, ignore_errors=True)
        elif self.storage is not None:
            self.storage.delete_under(location)

    # -- connections ---------------------------------------------------------------------

    @contextmanager
    def connect(
        self, attach_sources: Iterable[Attachment] = ()
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A trusted connection (server work: ingest, catalog) with the lake attached and used,
        and the given sources attached (read-only, e.g. to import from them).

        Writes on it are not retried; prefer :meth:`run_write`.
        """
        sources = list(attach_sources)
        connection = retry(lambda: self._open(read_only=False, sources=sources), self.retry_policy)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def user_connection(
        self,
        attach_sources: Iterable[Attachment] = (),
        *,
        settings: Mapping[str, SettingValue] | None = None,
        masking: Masking | None = None,
    ) -> Iterator[UserConnection]:
        """A restricted connection for user SQL: the lake read-only, the given read-only
        sources, ``settings`` (e.g. ``memory_limit``) applied, then external access off and
        the configuration locked. With ``masking``, the tables it names are read through
        their policy subqueries (see :mod:`.masking`)."""
        sources = list(attach_sources)
        directories = [self.data_url, *(d for s in sources for d in s.allowed_directories)]
        check_readable_layout([d for d in directories if not is_s3_url(d)], self._private_paths())
        spill = self._spill_folder()
        try:
            connection = retry(lambda: self._open_read_only(sources), self.retry_policy)
            try:
                if masking:
                    masking.prepare(connection)
                restrict(
                    connection,
                    allowed_directories=directories,
                    allowed_paths=[p for s in sources for p in s.allowed_paths],
                    settings={**(settings or {}), "temp_directory": str(spill)},
                )
                user = UserConnection(connection, masking, self.alias)
                yield user
            finally:
                connection.close()
        finally:
            shutil.rmtree(spill, ignore_errors=True)

    def _spill_folder(self) -> Path:
        """A new folder of its own (0700) for one user connection's spill files."""
        self.spill_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Each folder under it is 0700 already (mkdtemp); the parent keeps others from listing.
        with contextlib.suppress(OSError):
            self.spill_directory.chmod(0o700)
        return Path(tempfile.mkdtemp(prefix="query-", dir=self.spill_directory))

    def _private_paths(self) -> list[tuple[str, Path]]:
        """What user SQL must never be able to read, named for the error message."""
        paths = [
            ("the DuckDB extension directory", self.extension_directory),
            ("the query spill directory", self.spill_directory),
        ]
        if self.catalog.path is not None:
            paths.append(("the lake's catalog file", self.catalog.path))
        return paths

    def _open_read_only(self, sources: Sequence[Attachment]) -> duckdb.DuckDBPyConnection:
        import duckdb

        try:
            return self._open(read_only=True, sources=sources)
        except duckdb.Error as error:
            # A read-only attach cannot create the lake; create it once, then attach again.
            if _NOT_CREATED not in str(error).lower():
                raise
        self._open(read_only=False).close()
        return self._open(read_only=True, sources=sources)

    def _open(
        self, *, read_only: bool, sources: Sequence[Attachment] = ()
    ) -> duckdb.DuckDBPyConnection:
        import duckdb

        self.catalog.prepare()
        if self._local is not None:
            self._local.mkdir(parents=True, exist_ok=True, mode=0o700)
        extensions = [name for source in sources for name in source.extensions]
        if self._local is None:
            extensions.append("httpfs")
        connection = open_connection(
            self.extension_directory, ("ducklake", self.catalog.extension, *extensions)
        )
        failure = None
        try:
            if self.storage is not None and self._local is None:
                # Scoped to the lake: user connections read nothing else of the bucket.
                connection.execute(self.storage.duckdb_secret(_SECRET, self.data_url))
            for statement in self.catalog.attach_statements(
                self.alias, self.data_url, read_only=read_only
            ):
                connection.execute(statement)
            connection.execute(f"USE {ident(self.alias)}")
            for source in sources:
                source.apply(connection)
        except duckdb.Error as error:
            connection.close()
            if is_transient(error) or (read_only and _NOT_CREATED in str(error).lower()):
                raise
            failure = redact(str(error), self.secrets)
        except BaseException:
            connection.close()
            raise
        if failure is not None:
            # Outside the handler: the unredacted error must not ride along as __context__.
            raise WarehouseError(f"could not open the warehouse catalog: {failure}")
        return connection

    # -- writes --------------------------------------------------------------------------

    def run_write(
        self,
        fn: Callable[[duckdb.DuckDBPyConnection], T],
        *,
        author: str | None = None,
        message: str | None = None,
        extra_info: str | None = None,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> T:
        """Run ``fn(connection)`` in one transaction, recorded as one snapshot with its author
        and message, retrying the whole transaction when it loses a race with other writers.

        ``fn`` may run several times, so it must only change the lake through the given
        connection (nothing is committed before it returns) and return plain values.
        ``connection``: one of :meth:`connect` to run it on (no transaction open), which
        saves opening the lake again; a failed attempt is rolled back on it.
        """
        import duckdb

        def attempt() -> T:
            on = self._open(read_only=False) if connection is None else connection
            try:
                on.execute("BEGIN TRANSACTION")
                if author is not None or message is not None or extra_info is not None:
                    # Literals: DuckDB's first bound parameter in a process imports pandas.
                    on.execute(
                        f"CALL {ident(self.alias)}.set_commit_message({_text(author)}, "
                        f"{_text(message)}, extra_info => {_text(extra_info)})"
                    )
                result = fn(on)
                on.execute("COMMIT")
                return result
            except BaseException:
                if connection is not None:
                    with contextlib.suppress(duckdb.Error):  # none open after a failed COMMIT
                        connection.execute("ROLLBACK")
                raise
            finally:
                if connection is None:
                    on.close()

        return retry(attempt, self.retry_policy)

    # -- reads ---------------------------------------------------------------------------

    def snapshots(
        self,
        table: str,
        *,
        schema: str = "main",
        with_counts: bool = True,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> list[Snapshot]:
        """The versions of ``schema.table``, oldest first: id, time, author, message, rows
        (0 without ``with_counts``, which saves reading the table's changes); ``connection``:
        one of :meth:`connect` to read them on."""

        def read(c: duckdb.DuckDBPyConnection) -> list[Snapshot]:
            return table_snapshots(
                c, self.alias, self._meta, schema, table, with_counts=with_counts
            )

        return read(connection) if connection is not None else self.inspect(read)

    def read(
        self, table: str, *, schema: str = "main", version: int | None = None
    ) -> pyarrow.Table:
        """``schema.table`` as an Arrow table, as it is now or at snapshot ``version``."""
        at = "" if version is None else f" AT (VERSION => {int(version)})"
        sql = f"SELECT * FROM {qualified(self.alias, schema, table)}{at}"

        def attempt() -> pyarrow.Table:
            # A session of its own (not kept): reading rows may leave cached file blocks.
            with self._open(read_only=False) as connection:
                return connection.execute(sql).to_arrow_table()

        return retry(attempt, self.retry_policy)

    def tables(self, *, schema: str | None = None) -> list[TableInfo]:
        """Every table (or those of ``schema``) with columns, row count and size on disk."""
        return self.inspect(lambda c: list_tables(c, self.alias, self._meta, schema=schema))

    def table(self, name: str, *, schema: str = "main") -> TableInfo:
        """One table's description; :class:`~atelier.errors.NotFound` if there is none."""
        found = self.inspect(
            lambda c: list_tables(c, self.alias, self._meta, schema=schema, table=name)
        )
        if not found:
            raise NotFound(f"no table {schema}.{name} in the warehouse")
        return found[0]

    def inspect(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``fn(session)`` for one of Atelier's own catalog reads, on a trusted session kept
        from an earlier one when there is one idle (opening one costs tens of milliseconds).

        ``fn`` must only run fixed reads of the lake's catalog (tables, columns, versions):
        no settings, attachments, temporary objects, transactions or user SQL, so that the
        session is as it was opened when the next read takes it. ``fn`` answering
        :class:`~atelier.errors.NotFound` (no such table) keeps the session too. A session
        where ``fn`` raised anything else is closed, not kept; where it was a kept one (its
        metadata connection may have been lost) and the error is DuckDB's, ``fn`` runs again
        on a new one.
        """
        import duckdb

        def run_on(session: duckdb.DuckDBPyConnection) -> T:
            try:
                result = fn(session)
            except NotFound:
                self._keep(session)
                raise
            except BaseException:
                session.close()
                raise
            self._keep(session)
            return result

        kept = self._take_kept()
        if kept is not None:
            try:
                return run_on(kept)
            except duckdb.Error:
                pass  # closed: the read runs again on a new session
        return retry(lambda: run_on(self._open(read_only=False)), self.retry_policy)

    def close(self) -> None:
        """Close the sessions kept for :meth:`inspect` (a later read opens a new one)."""
        with self._kept_lock:
            kept, self._kept = self._own_kept(), []
        for session in kept:
            session.close()

    def _take_kept(self) -> duckdb.DuckDBPyConnection | None:
        with self._kept_lock:
            kept = self._own_kept()
            return kept.pop() if kept else None

    def _keep(self, session: duckdb.DuckDBPyConnection) -> None:
        with self._kept_lock:
            kept = self._own_kept()
            if len(kept) < KEPT_SESSIONS:
                kept.append(session)
                return
        session.close()

    def _own_kept(self) -> list[duckdb.DuckDBPyConnection]:
        """The kept sessions of this process (called holding the lock)."""
        if self._kept_pid != os.getpid():
            # A forked child: its copies of the parent's sessions share their catalog
            # connections, so closing them (even by garbage collection) would end the
            # parent's. They are set aside, never used.
            _INHERITED.extend(self._kept)
            self._kept, self._kept_pid = [], os.getpid()
        return self._kept


def _text(value: str | None) -> str:
    """A SQL string literal, or NULL."""
    return "NULL" if value is None else literal(value)
