"""Leases: background work that must run once, whichever of several servers is up.

Several ``atelier up`` processes (on one machine or many) can share one workspace and one
metadata database. Work that must happen exactly once (watching a job, shipping a dead
process's prediction journal, a user's JupyterLab) is done by the holder of a *lease*: a row
``(name, holder, expires_at)`` in the metadata database. The holder renews it well before it
expires; when the holder dies (or is cut off from the database) the lease runs out and another
process takes the work over.

Taking and renewing are one ``UPDATE ... WHERE name = :name AND (expires_at < now OR holder =
:me)`` (or an ``INSERT`` of a missing row, which the primary key makes exclusive): whichever
process's statement lands first wins, on PostgreSQL and on SQLite alike. Times are the
servers' clocks (in UTC), so their clocks must agree to well within a lease's duration (NTP).

A holder id is ``host:pid:random``, unique per process and never reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import Lease, utcnow

log = logging.getLogger(__name__)

#: How long a lease lasts without renewal unless ``server.lease_seconds`` says otherwise.
DEFAULT_SECONDS = 30.0
#: Each running server holds ``server:<its id>``: the live ones are the servers up now.
SERVER_LEASE = "server:"


def node_name() -> str:
    """This machine's name in job records and holder ids: ``ATELIER_NODE_NAME`` (for
    servers that share a host name, e.g. containers with a fixed one) or the host name."""
    return os.environ.get("ATELIER_NODE_NAME") or socket.gethostname()


def new_holder() -> str:
    """A holder id for this process: ``host:pid:random``."""
    return f"{node_name()}:{os.getpid()}:{secrets.token_hex(4)}"


def process_gone(holder: str) -> bool:
    """Whether ``holder`` was a process of this machine that no longer runs (a holder of
    another machine, or one whose pid runs again, counts as alive: its lease runs out)."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != node_name() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    address: str
    acquired_at: datetime
    expires_at: datetime

    @property
    def live(self) -> bool:
        return self.expires_at > utcnow()


class Leases:
    """Take, renew and give back leases in the metadata database."""

    def __init__(self, db: Database, seconds: float = DEFAULT_SECONDS) -> None:
        if seconds <= 0:
            raise ValueError("a lease must last more than 0 seconds")
        self.db = db
        self.seconds = seconds

    def acquire(
        self,
        name: str,
        holder: str,
        *,
        address: str = "",
        steal: bool = False,
        seconds: float | None = None,
    ) -> bool:
        """Take (or renew) ``name`` for ``holder``; False while another holder's is live.
        ``steal``: take it even then (only for a holder known to be dead, e.g. a process of
        this machine that is gone). ``seconds``: this once, a longer lease (for a holder that
        needs time to start renewing it)."""
        now = utcnow()
        expires = now + timedelta(seconds=self.seconds if seconds is None else seconds)
        condition = (Lease.expires_at < now) | (Lease.holder == holder)
        query = update(Lease).where(Lease.name == name)
        if not steal:
            query = query.where(condition)
        values: dict[str, object] = {"holder": holder, "expires_at": expires}
        if address:
            values["address"] = address
        with self.db.session() as session:
            current = session.scalar(select(Lease.holder).where(Lease.name == name))
            if current is not None and current != holder:
                values["acquired_at"] = now  # a takeover: a new tenure starts
            if session.execute(query.values(**values)).rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            with self.db.session() as session:
                session.add(
                    Lease(
                        name=name,
                        holder=holder,
                        address=address,
                        acquired_at=now,
                        expires_at=expires,
                    )
                )
        except IntegrityError:
            return self._take_from_dead(name, holder, address)
        return True

    def _take_from_dead(self, name: str, holder: str, address: str) -> bool:
        """Take a live lease whose holder was a process of this machine that is gone (a
        server restarted after a crash need not wait for its old leases to run out)."""
        with self.db.session() as session:
            current = session.scalar(select(Lease.holder).where(Lease.name == name))
            if current is None or current == holder or not process_gone(current):
                return False
            values: dict[str, object] = {
                "holder": holder,
                "acquired_at": utcnow(),
                "expires_at": utcnow() + timedelta(seconds=self.seconds),
            }
            if address:
                values["address"] = address
            result = session.execute(
                update(Lease).where(Lease.name == name, Lease.holder == current).values(**values)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def renew(self, name: str, holder: str) -> bool:
        """Extend ``holder``'s lease; False when it is no longer theirs (taken over)."""
        expires = utcnow() + timedelta(seconds=self.seconds)
        with self.db.session() as session:
            result = session.execute(
                update(Lease)
                .where(Lease.name == name, Lease.holder == holder)
                .values(expires_at=expires)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self, name: str, holder: str) -> None:
        """Give the lease back at once (only if ``holder`` still holds it)."""
        with self.db.session() as session:
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

    def get(self, name: str) -> LeaseInfo | None:
        with self.db.session() as session:
            row = session.get(Lease, name)
            return None if row is None else _info(row)

    def live(self, prefix: str) -> list[LeaseInfo]:
        """The live leases whose name starts with ``prefix`` (e.g. ``server:``)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Lease)
                .where(Lease.name.startswith(prefix, autoescape=True), Lease.expires_at > utcnow())
                .order_by(Lease.name)
            )
            return [_info(row) for row in rows]

    @contextlib.contextmanager
    def exclusive(self, name: str, holder: str, *, wait: float | None = None) -> Iterator[None]:
        """Hold ``name`` for the block: a lock across servers, waited for up to ``wait``
        seconds (default: two lease durations; a dead holder's runs out within one)."""
        deadline = time.monotonic() + (2 * self.seconds if wait is None else wait)
        delay = 0.02
        while not self.acquire(name, holder):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the lease {name!r} stayed held by another server")
            time.sleep(delay)
            delay = min(0.5, delay * 2)
        try:
            yield
        finally:
            self.release(name, holder)


def server_on(leases: Leases, node: str) -> str:
    """The address of a live server on machine ``node`` (see :func:`node_name`), or ""."""
    for lease in leases.live(SERVER_LEASE + node + ":"):
        if lease.address:
            return lease.address
    return ""


def _info(row: Lease) -> LeaseInfo:
    return LeaseInfo(row.name, row.holder, row.address, row.acquired_at, row.expires_at)


class LeaseKeeper:
    """Renews a process's leases in a background thread, every third of their duration.

    A lease that could not be renewed (taken over after this process was cut off long
    enough) is dropped and ``on_lost(name)`` is called: the work it guarded belongs to
    another process now."""

    def __init__(
        self,
        leases: Leases,
        holder: str | None = None,
        *,
        address: str = "",
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.leases = leases
        self.holder = holder or new_holder()
        self.address = address
        self.on_lost = on_lost
        self._names: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Called after each round of renewals (periodic work that rides on this thread).
        self.every_round: list[Callable[[], object]] = []

    def take(self, name: str) -> bool:
        """Acquire ``name`` and keep it renewed; False while another holder's is live."""
        if not self.leases.acquire(name, self.holder, address=self.address):
            return False
        with self._lock:
            self._names.add(name)
        return True

    def give_back(self, name: str) -> None:
        with self._lock:
            self._names.discard(name)
        with contextlib.suppress(Exception):  # the database may be gone at exit
            self.leases.release(name, self.holder)

    def holds(self, name: str) -> bool:
        with self._lock:
            return name in self._names

    def start(self) -> LeaseKeeper:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="atelier-leases", daemon=True)
            self._thread.start()
        return self

    def renew_all(self) -> None:
        with self._lock:
            names = sorted(self._names)
        for name in names:
            if self.leases.renew(name, self.holder):
                continue
            with self._lock:
                self._names.discard(name)
            log.warning("lease %s was taken over by another server", name)
            if self.on_lost is not None:
                self.on_lost(name)

    def _run(self) -> None:
        while not self._stop.wait(self.leases.seconds / 3):
            try:
                self.renew_all()
            except Exception as error:  # the database may be away for a moment: retry
                log.warning("renewing leases failed (will retry): %s", error)
            for work in list(self.every_round):
                try:
                    work()
                except Exception as error:
                    log.warning("background work failed (will retry): %s", error)

    def stop(self) -> None:
        """Stop renewing and give every lease back (a clean shutdown hands over at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            names = sorted(self._names)
        for name in names:
            self.give_back(name)
