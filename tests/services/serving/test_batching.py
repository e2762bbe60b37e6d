"""Concurrent predictions go through the model together, and each caller gets its own.

The batcher is driven deterministically (a model call held open until the test lets it go);
the model server is exercised with the real churn model from many threads at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from atelier.errors import InvalidInput
from atelier.services.pii.policies import policies_of
from atelier.services.serving import ModelServer
from atelier.services.serving.models import Output
from atelier.services.serving.personal import PersonalData
from atelier.services.serving.service import Batcher
from atelier.services.tracking import TrackingStore
from atelier.services.tracking.references import parse_reference
from atelier.services.tracking.registry import ModelRegistry
from atelier.services.workbench import Workbench
from tests.services.serving.conftest import Registered
from tests.services.serving.helpers import EXAMPLE
from tests.services.serving.personal_model import EMAIL, NAME, RECORD, workspace_with_contacts

CHURN = parse_reference("churn@champion")


class HeldModel:
    """Doubles each row's ``x``; its first call waits until the test lets it go."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> list[Output]:
        self.calls.append([row["x"] for row in rows])
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(30)
        if any(row["x"] < 0 for row in rows):
            raise ValueError("negative x")
        return [Output(row["x"] * 2) for row in rows]


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_requests_arriving_during_a_call_go_together_in_the_next_one() -> None:
    model = HeldModel()
    batcher = Batcher(model)
    answers: dict[int, Any] = {}

    def call(x: int, count: int = 1) -> None:
        try:
            outputs, _ = batcher.submit([{"x": x + i} for i in range(count)])
            answers[x] = [o.prediction for o in outputs]
        except ValueError as error:
            answers[x] = error

    first = threading.Thread(target=call, args=(1,))
    first.start()
    assert model.entered.wait(30)
    others = [
        threading.Thread(target=call, args=(x, count))
        for x, count in ((10, 3), (20, 1), (-5, 1), (30, 2))
    ]
    for thread in others:
        thread.start()
        expected = others.index(thread) + 1
        wait_for(lambda expected=expected: batcher.waiting() == expected)
    model.release.set()
    for thread in [first, *others]:
        thread.join(30)

    # Alone first (nobody waited); then the four waiting requests in one call, in order;
    # that call failed on -5, so each was predicted again alone.
    assert model.calls[0] == [1]
    assert model.calls[1] == [10, 11, 12, 20, -5, 30, 31]
    assert sorted(model.calls[2:]) == sorted([[10, 11, 12], [20], [-5], [30, 31]])
    assert answers[1] == [2]
    assert answers[10] == [20, 22, 24]
    assert answers[20] == [40]
    assert answers[30] == [60, 62]
    assert isinstance(answers[-5], ValueError)
    assert (batcher.calls, batcher.requests) == (2, 5)  # batches, requests


def test_a_batch_holds_at_most_max_rows_but_a_larger_request_still_goes() -> None:
    model = HeldModel()
    batcher = Batcher(model, max_rows=4)
    threads = [threading.Thread(target=batcher.submit, args=([{"x": 0}],))]
    threads[0].start()
    assert model.entered.wait(30)
    for queued, count in enumerate((3, 2, 6), start=1):
        thread = threading.Thread(target=batcher.submit, args=([{"x": 1}] * count,))
        threads.append(thread)
        thread.start()
        wait_for(lambda queued=queued: batcher.waiting() == queued)
    model.release.set()
    for thread in threads:
        thread.join(30)
    assert [len(c) for c in model.calls] == [1, 3, 2, 6]


def test_only_requests_with_the_same_key_share_a_call() -> None:
    model = HeldModel()
    batcher = Batcher(model)
    threads = [threading.Thread(target=batcher.submit, args=([{"x": 0}], "int"))]
    threads[0].start()
    assert model.entered.wait(30)
    for queued, (x, key) in enumerate(((1, "float"), (2, "int"), (3, "float"), (4, "int")), 1):
        thread = threading.Thread(target=batcher.submit, args=([{"x": x}], key))
        threads.append(thread)
        thread.start()
        wait_for(lambda queued=queued: batcher.waiting() == queued)
    model.release.set()
    for thread in threads:
        thread.join(30)
    assert model.calls == [[0], [1, 3], [2, 4]]


@pytest.fixture
def server(
    registered: Registered, lake_workbench: Workbench, tmp_path: Path
) -> Iterator[ModelServer]:
    server = ModelServer(
        registered.registry(), lake_workbench.warehouse, tmp_path / "journal", flush_seconds=3600
    )
    yield server
    server.close()


def test_concurrent_callers_each_get_their_own_answers_logged_once(
    server: ModelServer, tmp_path: Path
) -> None:
    model = server.model(CHURN)
    records = [
        {**EXAMPLE, "age": 18 + i, "complaints": i % 5, "monthly_fees": 1.5 * i} for i in range(48)
    ]
    expected = {
        r["age"]: (o.prediction, o.probability)
        for r, o in zip(records, model.predict_records(model.schema.validate(records)), strict=True)  # type: ignore[union-attr]
    }
    model.predict_records = _slowed(model.predict_records)  # type: ignore[method-assign]
    logged: list[dict[str, Any]] = []
    server.listeners.append(logged.extend)
    got: dict[int, tuple[Any, Any, str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def client(mine: list[dict[str, Any]]) -> None:
        start.wait()
        for record in mine:
            try:
                answer = server.predict(CHURN, [record], caller=f"c{record['age']}")
                one = answer.predictions[0]
                got[record["age"]] = (one.prediction, one.probability, one.id)
            except BaseException as error:
                errors.append(error)
        # A bad record is its sender's 422, however many requests run beside it.
        with pytest.raises(InvalidInput, match="field 'age'"):
            server.predict(CHURN, [{**mine[0], "age": "old"}], caller="bad")

    threads = [threading.Thread(target=client, args=(records[i::12],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(got) == len(records)
    for age, (prediction, probability, _) in got.items():
        assert prediction == expected[age][0]
        assert probability == pytest.approx(expected[age][1])
    # Each prediction logged exactly once, with its own caller's inputs and answer.
    assert sorted(r["prediction_id"] for r in logged) == sorted(g[2] for g in got.values())
    for record in logged:
        age = json.loads(record["inputs"])["age"]
        assert record["caller"] == f"c{age}"
        assert record["prediction_id"] == got[age][2]
        assert record["prediction"] == got[age][0]
    # ... and journaled exactly once: one line per prediction in the journal's files.
    journaled = [
        json.loads(line)["prediction_id"]
        for path in sorted((tmp_path / "journal").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert sorted(journaled) == sorted(g[2] for g in got.values())
    batcher = server.batcher(model)
    assert batcher.requests == len(records)  # refused records never reach the model
    assert batcher.calls < batcher.requests  # and some requests did share a call


@pytest.fixture(scope="module")
def contacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    wb = Workbench(workspace_with_contacts(tmp_path_factory.mktemp("personal") / "ws"))
    yield wb
    wb.close()


def test_personal_fields_are_masked_in_every_request_of_a_batch(
    contacts: Workbench, tmp_path: Path
) -> None:
    registry = ModelRegistry(TrackingStore.for_workspace(contacts.workspace).backend_uri)
    personal = PersonalData(policies_of(contacts).masker, lambda: registry)
    server = ModelServer(
        registry, contacts.warehouse, tmp_path / "journal", flush_seconds=3600, personal=personal
    )
    ref = parse_reference("contacts@champion")
    try:
        model = server.model(ref)
        model.predict_records = _slowed(model.predict_records)  # type: ignore[method-assign]
        ids: list[str] = []

        def client() -> None:
            for _ in range(5):
                ids.extend(p.id for p in server.predict(ref, [RECORD], caller="ada").predictions)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(ids) == 30
        journal = b"".join(p.read_bytes() for p in (tmp_path / "journal").rglob("*.jsonl"))
        assert all(i.encode() in journal for i in ids)
        assert EMAIL.encode() not in journal and NAME.encode() not in journal
        masker = policies_of(contacts).masker()
        assert journal.count(masker.pseudonym(EMAIL).encode()) == 30
        batcher = server.batcher(model)
        assert batcher.calls < batcher.requests  # some requests did share a call
    finally:
        server.close()


def _slowed(predict: Any) -> Any:
    """The model's own predictions, each call a little slower, so that requests pile up."""

    def slow(rows: Any) -> Any:
        time.sleep(0.02)
        return predict(rows)

    return slow
