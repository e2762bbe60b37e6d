"""Helpers for tests that stop queries: a query that never ends alone, calls in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from atelier.backends.warehouse import Attachment

#: Runs for minutes unless interrupted (DuckDB cannot shortcut this cross join's aggregate).
ENDLESS = "SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE a.range <> b.range"


@dataclass
class StandInSources:
    """What the query service needs of the catalog's Sources: ``attachments()``."""

    items: list[Attachment] = field(default_factory=list)

    def attachments(self) -> list[Attachment]:
        return list(self.items)


def wait_for(condition: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Background:
    """A call running in a thread; :meth:`join` returns what it raised (or None)."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.value: object = None

        def target() -> None:
            try:
                self.value = call()
            except BaseException as error:
                self.error = error

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self) -> BaseException | None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the background call did not end"
        return self.error
