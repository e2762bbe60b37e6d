"""Leases: one holder at a time, taken over only once expired, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from atelier.backends.metadata import Database
from atelier.services.leases import LeaseKeeper, Leases, new_holder
from tests.conftest import TEMPLATES, fresh_postgres_database, leases_later


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated metadata database (a copy of the migrated template), one per module."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            path = tmp_path_factory.mktemp("leases") / "meta.db"
            shutil.copyfile(TEMPLATES.sqlite(), path)
            url = f"sqlite:///{path}"
        else:
            template = TEMPLATES.postgres_template()
            url = stack.enter_context(fresh_postgres_database(template=template))
        database = Database(url)
        yield database
        database.dispose()


def test_one_holder_until_it_expires(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    leases = Leases(db, seconds=30)
    a, b = new_holder(), new_holder()
    assert a != b
    assert leases.acquire("job:1", a, address="http://a")
    assert leases.acquire("job:1", a)  # renewing is taking again
    assert not leases.acquire("job:1", b)
    held = leases.get("job:1")
    assert held is not None and held.holder == a and held.live
    assert not leases.renew("job:1", b)
    assert leases.renew("job:1", a)
    leases_later(monkeypatch, 31)
    assert leases.acquire("job:1", b)  # expired: taken over
    assert not leases.renew("job:1", a)  # the old holder learns it lost it
    leases.release("job:1", a)  # not a's to give back: nothing happens
    found = leases.get("job:1")
    assert found is not None and found.holder == b and found.address == "http://a"
    leases.release("job:1", b)
    assert leases.get("job:1") is None
    assert leases.acquire("job:1", a, steal=False)
    assert leases.acquire("job:1", b, steal=True)


def test_racing_takers_get_it_once(db: Database) -> None:
    leases = Leases(db, seconds=30)
    holders = [new_holder() for _ in range(8)]
    won: list[str] = []
    start = threading.Barrier(len(holders))

    def take(holder: str) -> None:
        start.wait()
        for attempt in range(20):
            try:
                if leases.acquire("journal:x", holder):
                    won.append(holder)
                return
            except Exception:  # SQLite: "database is locked" under the race; try again
                time.sleep(0.05 * (attempt + 1))

    threads = [threading.Thread(target=take, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert leases.live("journal:")[0].holder == won[0]


def test_keeper_renews_and_reports_a_takeover(db: Database) -> None:
    leases = Leases(db, seconds=2.0)
    lost: list[str] = []
    keeper = LeaseKeeper(leases, on_lost=lost.append).start()
    try:
        assert keeper.take("notebook:alice")
        time.sleep(2.5)  # past one duration: renewed meanwhile (every 0.67 s), so still held
        assert not leases.acquire("notebook:alice", new_holder())
        leases.acquire("notebook:alice", "someone else", steal=True)
        deadline = time.monotonic() + 5
        while not lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lost == ["notebook:alice"] and not keeper.holds("notebook:alice")
        assert keeper.take("server:me")
    finally:
        keeper.stop()
    assert leases.get("server:me") is None  # given back at a clean stop


def test_exclusive_waits_for_the_holder(db: Database) -> None:
    leases = Leases(db, seconds=30)
    other = new_holder()
    assert leases.acquire("jobs:queue", other)
    with (
        pytest.raises(TimeoutError, match="jobs:queue"),
        leases.exclusive("jobs:queue", new_holder(), wait=0.2),
    ):
        pass
    threading.Timer(0.3, leases.release, args=("jobs:queue", other)).start()
    me = new_holder()
    with leases.exclusive("jobs:queue", me, wait=5):
        assert leases.get("jobs:queue").holder == me  # type: ignore[union-attr]
    assert leases.get("jobs:queue") is None


def test_a_lease_must_last() -> None:
    with pytest.raises(ValueError, match="more than 0 seconds"):
        Leases(Database("sqlite://"), seconds=0)
