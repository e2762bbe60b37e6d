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
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

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
    ) -> None:
        self.root = directory
        self.ship = ship
        self.interval = interval
        self.wake_after = wake_after
        self.root.mkdir(parents=True, exist_ok=True)
        self.folder = self.root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
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
                self.flush()
                self.last_error = None
            except Exception as error:  # the next round retries; nothing is deleted
                self.last_error = str(error)
                log.warning("shipping the prediction log failed (will retry): %s", error)

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
                for index, segment in enumerate(sorted(other.glob("*.jsonl"))):
                    target = self.folder / f"replay-segment-0-{other.name}-{index:09d}.jsonl"
                    segment.rename(target)
            shutil.rmtree(other, ignore_errors=True)
        if any(self.folder.glob("replay-*.jsonl")):
            self._wake.set()


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
