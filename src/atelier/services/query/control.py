"""Stopping a running query from another thread: its timeout, or a cancel.

DuckDB's ``interrupt()`` only stops what is running at that instant: one that arrives just
before a statement starts, or between two fetched batches, is forgotten. So a stop is kept
as a reason that the query's own thread checks before each step (executing, fetching a
batch), and while a step is running the connection is interrupted again every few
milliseconds until the step gives up. Nothing is interrupted outside a step, so a result
that nobody reads any more costs no thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from atelier.errors import AtelierError
from atelier.services.query.errors import QueryCancelled, QueryTimeout

StopReason = Literal["timeout", "cancelled"]

#: Seconds between two interrupts while a stopped step has not given up yet.
REPEAT = 0.02


class Control:
    """The stop switch of query ``query_id``; its timeout runs from its creation."""

    def __init__(self, query_id: int, timeout: float) -> None:
        self.query_id = query_id
        self.timeout = timeout
        self.reason: StopReason | None = None
        self.stopped_by: str | None = None
        self._interrupt: Callable[[], None] = _nothing
        self._lock = threading.Lock()
        self._in_step = False
        self._finished = False
        self._timer = threading.Timer(timeout, self.stop, args=("timeout",))
        self._timer.daemon = True
        self._timer.start()

    def attach(self, interrupt: Callable[[], None]) -> None:
        """Interrupt with ``interrupt`` (the connection's) from now on."""
        with self._lock:
            self._interrupt = interrupt

    def stop(self, reason: StopReason, by: str | None = None) -> bool:
        """Ask the query to stop; False when it has already finished or been stopped."""
        with self._lock:
            if self._finished or self.reason is not None:
                return False
            self.reason, self.stopped_by = reason, by
            busy = self._in_step
        if busy:
            threading.Thread(target=self._keep_interrupting, name="query-stop", daemon=True).start()
        return True

    @contextmanager
    def step(self) -> Iterator[None]:
        """Around each DuckDB call of the query: raises the stop error if a stop came first."""
        with self._lock:
            if self.reason is not None:
                raise self.error()
            self._in_step = True
        try:
            yield
        finally:
            with self._lock:
                self._in_step = False

    def _keep_interrupting(self) -> None:
        while True:
            # Under the lock: after the step ends the connection may be closed at any time.
            with self._lock:
                if not self._in_step or self._finished:
                    return
                self._interrupt()
            time.sleep(REPEAT)

    def error(self) -> AtelierError:
        """The error the query ends with, once stopped."""
        if self.reason == "cancelled":
            by = f" by {self.stopped_by}" if self.stopped_by else ""
            return QueryCancelled(f"query {self.query_id} was cancelled{by}")
        return QueryTimeout(
            f"query {self.query_id} ran longer than its {self.timeout:g} s timeout and was "
            "stopped: filter or aggregate more, or allow a longer timeout"
        )

    def finish(self) -> None:
        """The query is over: no interrupt comes after this returns."""
        with self._lock:
            self._finished = True
        self._timer.cancel()


def _nothing() -> None:
    """Before a connection is attached there is nothing to interrupt: the next step raises."""
