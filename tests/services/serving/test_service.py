import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from atelier.errors import InvalidInput, NotFound
from atelier.services.auth import Principal
from atelier.services.serving import ModelServer
from atelier.services.tracking.references import parse_reference
from atelier.services.workbench import Workbench
from tests.services.serving.conftest import Registered
from tests.services.serving.helpers import EXAMPLE

ADMIN = Principal(1, "root", "admin", "local")


@pytest.fixture
def server(registered: Registered, lake_workbench: Workbench, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = ModelServer(
        registered.registry(), lake_workbench.warehouse, tmp_path / "journal", flush_seconds=60
    )
    yield server
    server.close()


def test_predictions_come_with_probabilities_and_land_in_the_warehouse(
    server: ModelServer, registered: Registered, lake_workbench: Workbench
) -> None:
    batch = server.predict(
        parse_reference("churn@champion"), [EXAMPLE, {**EXAMPLE, "age": 70}], caller="ada"
    )
    assert (batch.model, batch.version) == ("churn", registered.version)
    first = batch.predictions[0]
    assert first.prediction in ("churn", "stay")
    assert first.probabilities is not None and set(first.probabilities) == {"churn", "stay"}
    assert first.probability == pytest.approx(first.probabilities[first.prediction])
    assert server.find(first.id, "churn")["caller"] == "ada"

    server.flush()
    rows = lake_workbench.warehouse.read("churn", schema="predictions").to_pylist()
    logged = {row["prediction_id"]: row for row in rows}
    assert {p.id for p in batch.predictions} <= set(logged)
    row = logged[first.id]
    assert (row["model"], row["model_version"], row["caller"]) == ("churn", batch.version, "ada")
    assert '"age":41' in row["inputs"] and row["prediction"] == first.prediction


def test_a_version_is_loaded_once_and_unknown_models_are_not_found(server: ModelServer) -> None:
    one = server.model(parse_reference("churn@champion"))
    assert server.model(parse_reference("churn")) is one
    assert one.categories()["segment"] == ["affluent", "mass", "premier", "student"]
    assert one.example and set(one.example[0]) == set(EXAMPLE)
    assert one.card["metrics"]["accuracy"] > 0.5
    with pytest.raises(NotFound, match="no registered model 'nope'"):
        server.model(parse_reference("nope"))
    with pytest.raises(NotFound):
        server.model(parse_reference("churn@nope"))


def test_invalid_input_is_refused_before_the_model_runs(server: ModelServer) -> None:
    with pytest.raises(InvalidInput, match="field 'age': expected an integer"):
        server.predict(parse_reference("churn"), [{**EXAMPLE, "age": "x"}], caller="ada")


def test_concurrent_predictions_are_all_logged_once(
    server: ModelServer, lake_workbench: Workbench
) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(25):
            batch = server.predict(parse_reference("churn@champion"), [EXAMPLE], caller="bo")
            with lock:
                ids.extend(p.id for p in batch.predictions)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
        server.journal.flush()  # shipping while others append
    for thread in threads:
        thread.join()
    server.flush()
    rows = lake_workbench.warehouse.read("churn", schema="predictions").to_pylist()
    landed = [row["prediction_id"] for row in rows if row["caller"] == "bo"]
    assert sorted(landed) == sorted(ids) and len(ids) == 200


def test_an_alias_is_looked_up_again_after_alias_seconds(
    registered: Registered, lake_workbench: Workbench, tmp_path: Path
) -> None:
    from tests.services.serving.helpers import register_churn_model

    registry = registered.registry()
    server = ModelServer(
        registry, lake_workbench.warehouse, tmp_path / "journal", flush_seconds=60, alias_seconds=0
    )
    try:
        ref = parse_reference("moving@champion")
        first = register_churn_model(registered.tracking_uri, registered.artifacts, name="moving")
        assert server.resolve(ref).version == first
        pinned = server.resolve(parse_reference("moving/1"))
        second = register_churn_model(registered.tracking_uri, registered.artifacts, name="moving")
        assert server.resolve(ref).version == second == first + 1
        assert server.resolve(parse_reference("moving", version=1)) == pinned
        server.alias_seconds = 3600
        cached = server.resolve(ref)
        registry.set_alias("moving", "champion", first, by=ADMIN)
        assert server.resolve(ref) is cached  # still the version seen last, until it expires
    finally:
        server.close()


def test_callers_that_find_an_alias_expired_together_look_it_up_once(
    registered: Registered,
    lake_workbench: Workbench,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many app users at once must not make as many registry lookups at each expiry."""
    registry = registered.registry()
    asked: list[str] = []
    answer = threading.Event()
    lookup = registry.resolve

    def slow(reference: Any) -> Any:
        asked.append(str(reference))
        answer.wait(10)  # the first lookup is under way while the others arrive
        return lookup(reference)

    monkeypatch.setattr(registry, "resolve", slow)
    server = ModelServer(registry, lake_workbench.warehouse, tmp_path / "journal", flush_seconds=60)
    try:
        ref = parse_reference("churn@champion")
        with ThreadPoolExecutor(8) as pool:
            waiting = [pool.submit(server.resolve, ref) for _ in range(8)]
            time.sleep(0.5)
            answer.set()
            found = [future.result(timeout=60) for future in waiting]
        assert asked == ["churn@champion"]
        assert all(info is found[0] for info in found)
        # Expired: looked up again, once; an unknown name is still an error for each caller.
        server.alias_seconds = 0
        server._resolved[ref] = (found[0], 0.0)
        assert server.resolve(ref).version == found[0].version
        assert asked == ["churn@champion"] * 2
        for _ in range(2):
            with pytest.raises(NotFound):
                server.resolve(parse_reference("nope@champion"))
    finally:
        server.close()
