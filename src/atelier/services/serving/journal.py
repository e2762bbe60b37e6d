"""An append-only journal with a background shipper: durable logging off the request path.

A request appends its records to the journal with one buffered ``write`` to an ``O_APPEND``
file (microseconds, under a lock); from then on they survive the process crashing. A
background thread wakes every ``interval`` seconds (or earlier when many records wait),
``fsync``s and seals the current segment, and hands sealed segments, oldest first, to the
``ship`` callback, which writes them somewhere slower (the warehouse); a segment is deleted
only after ``ship`` returned. ``close()`` ships everything left.

Each process journals in a folder of its own, held with an exclusive ``flock``. A folder whose
lock can be taken belonged to a process that died: its segments are adopted and shipped again
with ``replay=True``, so that ``ship`` can skip records that had already landed.

Several servers on one workspace (on several machines, where a ``flock`` on a shared folder
may not be seen by the others): each folder is also held with a lease (``journal:FOLDER``,
:mod:`atelier.services.leases`) that its process renews while it runs. An orphan is adopted
only by whoever takes its expired lease, so exactly one process ships it; orphans are looked
for again every lease duration, not only at start-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atelier.services.leases import Leases

log = logging.getLogger(__name__)

Ship = Callable[[Sequence[dict[str, Any]], bool], None]

CURRENT = "current.jsonl"
LOCK = "lock"


class Journal:
    def __init__(
        self,
        directory: Path,
        ship: Ship,
        *,
        interval: float = 1.0,
        wake_after: int = 2000,
        leases: Leases | None = None,
    ) -> None:
        self.root = directory
        self.ship = ship
        self.interval = interval
        self.wake_after = wake_after
        self.root.mkdir(parents=True, exist_ok=True)
        self.folder = self.root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
        self.leases = leases
        #: This process as a lease holder (the folder's name is unique to it).
        self.holder = f"{os.uname().nodename}:{self.folder.name}"
        self._next_renewal = 0.0
        self._next_adoption = 0.0
        if leases is not None:
            leases.acquire(lease_name(self.folder), self.holder)
            self._next_renewal = time.monotonic() + leases.seconds / 3
            self._next_adoption = time.monotonic() + leases.seconds
        self._lock_file = (self.folder / LOCK).open("w")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._write_lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._file: IO[str] = (self.folder / CURRENT).open("a", encoding="utf-8")
        self._pending = 0
        self._sequence = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Failures of the last shipping attempt (kept for the health of the log).
        self.last_error: str | None = None
        #: Called after each shipment, in the shipper's thread (e.g. to ship feedback too).
        self.after: list[Callable[[], object]] = []
        self._adopt_orphans()
        self._ensure_thread()

    # -- request path --------------------------------------------------------------------

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Journal ``records``; durable against a crash of this process when it returns."""
        text = "".join(json.dumps(r, default=str, separators=(",", ":")) + "\n" for r in records)
        with self._write_lock:
            if self._file.closed:
                raise RuntimeError("the prediction log is closed")
            self._file.write(text)
            self._file.flush()
            self._pending += len(records)
            wake = self._pending >= self.wake_after
        if wake:
            self._wake.set()

    # -- shipping ------------------------------------------------------------------------

    def flush(self) -> None:
        """Seal the current segment and ship every sealed one now (also the caller's thread)."""
        with self._ship_lock:
            self._seal()
            self._ship_sealed()
            for hook in self.after:
                hook()

    def close(self) -> None:
        """Stop the shipper, ship what is left, release the folder."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        finally:
            with self._write_lock:
                self._file.close()
            remaining = [p for p in self.folder.iterdir() if p.name not in (LOCK, CURRENT)]
            if not remaining and not (self.folder / CURRENT).stat().st_size:
                shutil.rmtree(self.folder, ignore_errors=True)
            self._lock_file.close()
            if self.leases is not None:
                with contextlib.suppress(Exception):  # the database may be gone at exit
                    self.leases.release(lease_name(self.folder), self.holder)

    def _ensure_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="atelier-prediction-log", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._keep_lease()
                self.flush()
                self.last_error = None
            except Exception as error:  # the next round retries; nothing is deleted
                self.last_error = str(error)
                log.warning("shipping the prediction log failed (will retry): %s", error)

    def _keep_lease(self) -> None:
        """Renew this folder's lease; now and then, adopt the folders of dead processes."""
        if self.leases is None:
            return
        now = time.monotonic()
        if now >= self._next_renewal:
            self._next_renewal = now + self.leases.seconds / 3
            # Taken over means this process was cut off for a whole lease: take it back
            # (nobody adopts a folder whose flock is held on this machine).
            self.leases.acquire(lease_name(self.folder), self.holder, steal=True)
        if now >= self._next_adoption:
            self._next_adoption = now + self.leases.seconds
            with self._ship_lock:
                self._adopt_orphans()

    def _seal(self) -> None:
        with self._write_lock:
            if self._pending == 0 or self._file.closed:
                return
            os.fsync(self._file.fileno())
            self._file.close()
            self._sequence += 1
            sealed = self.folder / f"segment-{self._sequence:09d}.jsonl"
            (self.folder / CURRENT).rename(sealed)
            self._file = (self.folder / CURRENT).open("a", encoding="utf-8")
            self._pending = 0

    def _ship_sealed(self) -> None:
        for segment in sorted(self.folder.glob("*segment-*.jsonl")):
            records = read_segment(segment)
            replay = segment.name.startswith("replay-")
            if records:
                try:
                    self.ship(records, replay)
                except Exception:
                    # Shipped again later, maybe after a partial success: skip what landed.
                    if not replay:
                        segment.rename(segment.with_name(f"replay-{segment.name}"))
                    raise
            segment.unlink()

    def _adopt_orphans(self) -> None:
        for other in self.root.iterdir():
            if other == self.folder or not other.is_dir():
                continue
            lock_path = other / LOCK
            try:
                handle = lock_path.open("a")
            except OSError:
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live process owns it
                if self.leases is not None and not self.leases.acquire(
                    lease_name(other), self.holder
                ):
                    continue  # a live process (maybe on another machine) still renews it
                for index, segment in enumerate(sorted(other.glob("*.jsonl"))):
                    target = self.folder / f"replay-segment-0-{other.name}-{index:09d}.jsonl"
                    segment.rename(target)
            shutil.rmtree(other, ignore_errors=True)
            if self.leases is not None:
                self.leases.release(lease_name(other), self.holder)
        if any(self.folder.glob("replay-*.jsonl")):
            self._wake.set()


def lease_name(folder: Path) -> str:
    """The lease that says which process ships ``folder``."""
    return f"journal:{folder.name}"


def read_segment(path: Path) -> list[dict[str, Any]]:
    """The records of a segment; a torn last line (a crash mid-write) is skipped."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
    return records
