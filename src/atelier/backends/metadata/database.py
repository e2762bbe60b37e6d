"""Engine, sessions and migrations for the metadata database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool

MIGRATIONS = Path(__file__).parent / "migrations"
#: The PostgreSQL advisory lock that migrations hold ("atel" in ASCII).
MIGRATING = 0x6174656C


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Database:
    """One metadata database. ``migrate()`` brings its schema to the newest revision."""

    def __init__(self, url: str) -> None:
        self.url = _normalise(url)
        # A server's connection can drop between two requests (a restart, a proxy's idle
        # timeout): it is tested before use. A SQLite file cannot: no ``SELECT 1`` per request.
        sqlite = self.url.startswith("sqlite")
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not sqlite)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Told of each audit entry stored in this database, whichever service stored it
        #: (see ``services/auth/audit.py``).
        self.audit_listeners: list[Callable[[Any], None]] = []
        self._loop_reader: Engine | None = None
        self._loop_thread = threading.local()
        self._loop_lock = threading.Lock()

    def loop_reader(self) -> Engine | None:
        """For a SQLite file, an engine for a short read from an event loop's own thread: one
        read-only connection per thread (no pool to wait for) that fails at once, rather than
        wait, when the file is locked. None for a database server, which is read from worker
        threads (a network round trip must not hold up the event loop)."""
        if self.engine.dialect.name != "sqlite":
            return None
        if self._loop_reader is None:
            with self._loop_lock:  # two event loops' first requests make one engine
                if self._loop_reader is None:
                    reader = create_engine(
                        self.url,
                        poolclass=SingletonThreadPool,
                        # Closed from another thread when the database is disposed of.
                        connect_args={"check_same_thread": False},
                    )
                    event.listen(reader, "connect", _loop_reader_pragmas)
                    self._loop_reader = reader
        return self._loop_reader

    def loop_memo(self) -> tuple[int, dict[Any, Any]] | None:
        """For reads from an event loop's own thread worth keeping while the file is unchanged:
        SQLite's ``data_version`` as this thread's :meth:`loop_reader` connection sees it (it
        changes whenever any other connection, of this process or another, commits) and a dict
        that lives as long as that connection. An answer kept with the version read *before*
        it is still the file's answer while the version is the same. None for a database
        server, or when the file cannot be read just then."""
        reader = self.loop_reader()
        if reader is None:
            return None
        mine = self._loop_thread
        try:
            if getattr(mine, "connection", None) is None:
                # The pool's connection for this thread, which it keeps open until disposed of.
                held = reader.raw_connection()
                mine.connection, mine.memo = held.driver_connection, {}
                held.close()
            (version,) = mine.connection.execute("PRAGMA data_version").fetchone()
        except (DBAPIError, sqlite3.Error):  # locked just then, or closed: read anew next time
            mine.connection = None
            return None
        return version, mine.memo

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        # Every CLI command opens the database: when it is already at the newest revision, spare
        # it Alembic's import and checks (half a second).
        if self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several servers starting at once: one migrates, the others wait for it
                # (the lock ends with the transaction) and find the schema current.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATING})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The schema's revision, or None for a database Atelier has not set up yet."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None

    def dispose(self) -> None:
        self.engine.dispose()
        if self._loop_reader is not None:
            self._loop_reader.dispose()


def head_revision() -> str:
    """The newest migration's revision: migration files are named ``<revision>_<what>.py``."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("*_*.py"))


def _loop_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the server, the CLI and notebooks read while one of them writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    # As SQLite advises with WAL: a commit is not synced to disk on its own (checkpoints are).
    # A crashed process loses nothing; a power loss may lose the last commits, never the
    # database's consistency. A job's submission takes about 18 ms instead of 40 ms with a
    # sync per commit (docs/configuration.md).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted and replaced rows (token digests, credentials sealed on upgrade) are overwritten
    # with zeros, not left readable in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
