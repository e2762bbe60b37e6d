"""uv's failures become one clear reason; the lock serializes changes of one project."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from atelier.services.projects.uvtool import exclusive, reason

STDERR = """\
Resolved 3 packages in 12ms
error: Failed to add dependencies
  cause: No solution found when resolving dependencies
  cause: Because there is no version of six==0.0.1 and your project depends on six==0.0.1, \
we can conclude that your project's requirements are unsatisfiable.

hint: If you want to add the package regardless of the failed resolution, provide the \
`--frozen` flag to skip locking and syncing
"""


def test_reason_keeps_the_cause_and_drops_progress_and_hints() -> None:
    text = reason(STDERR)
    assert text.startswith("Because there is no version of six==0.0.1")
    assert "frozen" not in text and "Resolved" not in text
    assert reason("") == "uv failed without saying why"


def test_exclusive_makes_a_second_holder_wait(tmp_path: Path) -> None:
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.wait()
        with exclusive(tmp_path / "p.lock"):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with exclusive(tmp_path / "p.lock"):
        entered.set()
        time.sleep(0.2)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]
