"""The prediction journal on a workspace that several servers share: a dead process's folder
is shipped by whoever takes its expired lease, and only then (never twice, never while the
process that owns it, maybe on another machine, still renews it)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from atelier.backends.metadata import Database
from atelier.services.leases import Leases
from atelier.services.serving.journal import Journal, lease_name
from tests.conftest import TEMPLATES, leases_later


@pytest.fixture
def leases(tmp_path: Path) -> Iterator[Leases]:
    path = tmp_path / "meta.db"
    shutil.copyfile(TEMPLATES.sqlite(), path)
    db = Database(f"sqlite:///{path}")
    yield Leases(db, seconds=30)
    db.dispose()


def _orphan(root: Path, name: str, records: list[dict[str, Any]]) -> Path:
    """A folder as a process leaves it when it dies: a lock nobody holds, a sealed segment."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "lock").touch()
    text = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "segment-000000001.jsonl").write_text(text)
    return folder


def test_an_orphan_is_shipped_once_its_lease_ran_out(
    tmp_path: Path, leases: Leases, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped: list[tuple[list[dict[str, Any]], bool]] = []

    def ship(records: Sequence[dict[str, Any]], replay: bool) -> None:
        shipped.append((list(records), replay))

    root = tmp_path / "predictions"
    orphan = _orphan(root, "4242-0badcafe", [{"id": "a"}, {"id": "b"}])
    # Its process runs on another machine (a flock there is not seen here) and renews it.
    assert leases.acquire(lease_name(orphan), "elsewhere:4242:0badcafe")
    journal = Journal(root, ship, interval=60, leases=leases)
    other = Journal(root, ship, interval=60, leases=leases)
    try:
        assert orphan.exists()  # still someone's: left alone
        journal.flush()
        assert shipped == []
        leases_later(monkeypatch, 31)  # the other machine stopped renewing
        for each in (journal, other):
            each._next_renewal = each._next_adoption = 0.0  # both due
            each._keep_lease()
        journal.flush()
        other.flush()
        assert shipped == [([{"id": "a"}, {"id": "b"}], True)]
        assert not orphan.exists()
        # The live journals renewed their own leases meanwhile: neither adopts the other.
        assert {lease.holder for lease in leases.live("journal:")} == {
            journal.holder,
            other.holder,
        }
    finally:
        journal.close()
        other.close()
    assert leases.live("journal:") == []
