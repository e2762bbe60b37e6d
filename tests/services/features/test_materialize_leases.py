"""One materialization of a feature view at a time: other threads and other servers (lease
holders on the same metadata database) are refused, the lease is given back even on failure,
and a dead holder's lease runs out. On SQLite and PostgreSQL metadata."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from atelier.backends.metadata import FeatureMaterialization
from atelier.errors import InvalidInput, NotFound
from atelier.services.features import Entity, FeatureStore, FeatureView, serving
from atelier.services.features.exclusive import MaterializationRunning, lease_name
from atelier.services.leases import LeaseKeeper, Leases
from atelier.services.workbench import Workbench
from tests.conftest import leases_later
from tests.services.features.conftest import apply, write

ANOTHER = "http://node-b.example:8000"


@pytest.fixture
def store(workbench: Workbench) -> FeatureStore:
    """The workbench's feature store with two views, ``spend`` and ``visits``."""
    features = workbench.features
    write(
        features,
        "CREATE SCHEMA s",
        """CREATE TABLE s.tx AS SELECT * FROM (VALUES
          (1, TIMESTAMP '2024-01-01', 1.5), (2, TIMESTAMP '2024-01-02', 7.0)) t(k, ts, amount)""",
    )
    account = Entity("account", ["k"])
    apply(
        features,
        account,
        FeatureView("spend", account, "ts", source="s.tx", features=["amount"]),
        FeatureView("visits", account, "ts", source="s.tx", features=["amount"]),
    )
    return features


def runs(store: FeatureStore, view: str) -> int:
    with store.db.session() as session:
        query = select(func.count()).where(FeatureMaterialization.view == view)
        return int(session.scalar(query.select_from(FeatureMaterialization)) or 0)


def another_server(store: FeatureStore, seconds: float = 30) -> LeaseKeeper:
    """A second server's lease keeper on the same metadata database."""
    return LeaseKeeper(Leases(store.db, seconds), address=ANOTHER)


def test_two_threads_one_run(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first run waits inside its computation until the second attempt has its answer,
    # so the two overlap whatever the scheduling.
    answered = threading.Event()
    compute = serving._compute

    def held(*args: Any, **kwargs: Any) -> Any:
        answered.wait(timeout=60)
        return compute(*args, **kwargs)

    monkeypatch.setattr(serving, "_compute", held)
    start = threading.Barrier(2)
    done: list[object] = []

    def run() -> None:
        start.wait()
        try:
            done.append(store.materialize(["spend"]))
        except MaterializationRunning as error:
            done.append(error)
            answered.set()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    refused = [d for d in done if isinstance(d, MaterializationRunning)]
    succeeded = [d for d in done if isinstance(d, list)]
    assert len(refused) == 1 and len(succeeded) == 1, done
    assert "feature view 'spend' is being materialized by " in str(refused[0])
    assert "try again when it ends" in str(refused[0])
    assert runs(store, "spend") == 1
    # Given back at the end: the next run goes ahead.
    assert store.leases is not None and not store.leases.holds(lease_name("spend"))
    assert store.leases.leases.get(lease_name("spend")) is None
    store.materialize(["spend"])
    assert runs(store, "spend") == 2


def test_another_server_holds_the_view(store: FeatureStore) -> None:
    other = another_server(store)
    assert other.take(lease_name("spend"))
    with pytest.raises(
        MaterializationRunning,
        match=f"'spend' is being materialized by {re.escape(ANOTHER)} since ",
    ):
        store.materialize(["spend"])
    # All views at once: refused before anything is written, and the lease on the view that
    # was free is not kept.
    with pytest.raises(MaterializationRunning, match="'spend'"):
        store.materialize()
    assert runs(store, "spend") == runs(store, "visits") == 0
    assert store.leases is not None
    assert store.leases.leases.get(lease_name("visits")) is None
    other.give_back(lease_name("spend"))
    assert [r["view"] for r in store.materialize()] == ["spend", "visits"]
    # While this server runs it, the other is refused in turn (by the lease in the database).
    assert store.leases.take(lease_name("visits"))
    assert not other.take(lease_name("visits"))
    store.leases.give_back(lease_name("visits"))


def test_a_dead_holder_lets_the_lease_run_out(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A holder that stops renewing (its server died) is never given back: its lease expires.
    dead = another_server(store)
    assert dead.take(lease_name("spend"))
    with pytest.raises(MaterializationRunning, match=re.escape(ANOTHER)):
        store.materialize(["spend"])
    leases_later(monkeypatch, 31)
    (result,) = store.materialize(["spend"])
    assert result["view"] == "spend" and runs(store, "spend") == 1


def test_a_failed_run_gives_the_lease_back(store: FeatureStore) -> None:
    write(store, "DROP TABLE s.tx")  # the source is gone: the run fails
    with pytest.raises(InvalidInput, match=r"cannot read table s\.tx"):
        store.materialize(["spend"])
    assert runs(store, "spend") == 0
    assert store.leases is not None and not store.leases.holds(lease_name("spend"))
    assert store.leases.leases.get(lease_name("spend")) is None
    # Another server may run it now (and a missing view takes no lease at all).
    other = another_server(store)
    assert other.take(lease_name("spend"))
    other.give_back(lease_name("spend"))
    with pytest.raises(NotFound):
        store.materialize(["nope"])
    assert store.leases.leases.get(lease_name("nope")) is None
