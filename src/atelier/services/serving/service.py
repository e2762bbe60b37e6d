"""The model server: predictions from registered models, every one logged.

``predict`` resolves the model reference (aliases are looked up again at most every few
seconds), takes the version from memory (each version is loaded once), validates the records
against the signature, predicts, and journals one log record per row before answering; the
journal ships to ``predictions.<model>`` in the background (:mod:`.journal`, :mod:`.tables`).
The personal fields of each request are masked before anything is logged (:mod:`.personal`).
Recent predictions stay in memory so that feedback can quote them without a warehouse read.

Concurrent requests for one model version are predicted together (:class:`Batcher`): a
request that finds the model idle runs at once, alone; requests that arrive while it is busy
wait for that call to end and then go through the model as one vectorised call. Each request is
validated on its own before it joins (a bad record is its sender's 422, never its neighbours'),
gets back exactly its own rows' answers, and is logged once, by its own thread.

A version whose captured environment differs from Atelier's runs in a worker process in its
own environment, built from its lock (:mod:`.workers`); the rest of the path is the same.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput, NotFound
from atelier.services.serving.journal import Journal
from atelier.services.serving.models import LoadedModel, Output
from atelier.services.serving.personal import PersonalData
from atelier.services.serving.tables import SCHEMA, PredictionTables, table_name
from atelier.services.serving.workers import Workers
from atelier.services.tracking.registry import ModelRegistry, Reference, VersionInfo

if TYPE_CHECKING:
    from atelier.backends.warehouse import Warehouse
    from atelier.services.leases import Leases

#: How long an alias keeps pointing at the version it was last seen at.
ALIAS_SECONDS = 5.0
#: Locks that keep concurrent lookups of one reference to one (:meth:`ModelServer.resolve`).
RESOLVING_LOCKS = 32
#: Recent predictions kept in memory for feedback.
RECENT = 100_000
#: Largest batch one request may send.
MAX_RECORDS = 10_000
#: Most rows of queued requests predicted in one call of the model (a larger request still
#: goes alone).
MAX_BATCH_ROWS = 512


@dataclass(frozen=True)
class Prediction:
    id: str
    prediction: Any
    probability: float | None
    probabilities: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        found = {"id": self.id, "prediction": self.prediction, "probability": self.probability}
        if self.probabilities is not None:
            found["probabilities"] = self.probabilities
        return found


@dataclass(frozen=True)
class PredictionBatch:
    model: str
    version: int
    predictions: list[Prediction]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "predictions": [p.as_dict() for p in self.predictions],
        }

    def single_dict(self) -> dict[str, Any]:
        """The answer to a one-record request: the model, its version and the prediction."""
        return {"model": self.model, "version": self.version, **self.predictions[0].as_dict()}


class _Waiting:
    """One request's rows in a :class:`Batcher`'s queue, and then its answer."""

    __slots__ = ("done", "error", "key", "lead", "outputs", "rows", "seconds")

    def __init__(self, rows: Sequence[Mapping[str, Any]], key: object) -> None:
        self.rows = rows
        self.key = key
        self.done = threading.Event()
        #: Set when this request is handed the next call of the model (not its answer).
        self.lead = False
        self.outputs: list[Output] | None = None
        self.error: BaseException | None = None
        #: Time in the model per row of the call this request went in.
        self.seconds = 0.0


class Batcher:
    """Adaptive micro-batching of concurrent requests for one model.

    No timer: a request that finds the model idle is predicted at once, alone (a lone client
    never waits). Requests that arrive while a call runs queue up; when the call ends, the
    oldest waiting request's thread takes every queued request (up to ``max_rows`` rows) into
    the next call. So the batch grows with the load and a request waits at most one call of
    the model. Only requests with the same ``key`` share a call (the model server's key is
    the set of columns with a missing value in the request's rows, which decides the column
    types of its frame, so that a request is typed as it would be alone: a missing optional
    value in one request never turns its neighbours' integers into floats). Each request gets
    the outputs of its own rows, in order; when a batched call fails, every request in it is
    predicted again alone, so that an error is its own sender's.
    """

    def __init__(
        self,
        predict: Callable[[Sequence[Mapping[str, Any]]], list[Output]],
        *,
        max_rows: int = MAX_BATCH_ROWS,
    ) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()
        self._busy = False
        #: Batches run (a failed batch retried request by request counts once) and requests
        #: answered.
        self.calls = 0
        self.requests = 0

    def waiting(self) -> int:
        """Requests queued for the next call."""
        with self._lock:
            return len(self._queue)

    def submit(
        self, rows: Sequence[Mapping[str, Any]], key: object = None
    ) -> tuple[list[Output], float]:
        """The outputs for ``rows`` (in order) and the model's time per row, in seconds."""
        item = _Waiting(rows, key)
        with self._lock:
            self._queue.append(item)
            lead = not self._busy
            self._busy = True
        if not lead:
            item.done.wait()
            if item.lead:  # handed the next call, with this request first in it
                self._run()
        else:
            self._run()
        if item.error is not None:
            raise item.error
        assert item.outputs is not None
        return item.outputs, item.seconds

    def _run(self) -> None:
        with self._lock:
            first = self._queue.popleft()
            batch, size, left = [first], len(first.rows), deque[_Waiting]()
            for item in self._queue:  # the others keep their order for the next call
                if item.key == first.key and size + len(item.rows) <= self.max_rows:
                    size += len(item.rows)
                    batch.append(item)
                else:
                    left.append(item)
            self._queue = left
        try:
            self._call(batch, size)
        finally:
            with self._lock:
                self.calls += 1
                self.requests += len(batch)
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
            for item in batch:
                item.done.set()

    def _call(self, batch: list[_Waiting], size: int) -> None:
        rows = batch[0].rows if len(batch) == 1 else [r for item in batch for r in item.rows]
        started = time.perf_counter()
        try:
            outputs = self._predict(rows)
            if len(outputs) != size:
                raise RuntimeError(f"the model gave {len(outputs)} answers for {size} rows")
        except BaseException as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            for item in batch:  # alone, so that each request gets its own answer or error
                self._call([item], len(item.rows))
            return
        seconds = (time.perf_counter() - started) / max(1, size)
        start = 0
        for item in batch:
            item.outputs = outputs[start : start + len(item.rows)]
            item.seconds = seconds
            start += len(item.rows)


class ModelServer:
    def __init__(
        self,
        registry: ModelRegistry,
        warehouse: Warehouse,
        journal_dir: Path,
        *,
        flush_seconds: float = 1.0,
        alias_seconds: float = ALIAS_SECONDS,
        workers: Workers | None = None,
        personal: PersonalData | None = None,
        leases: Leases | None = None,
        compile_models: bool = True,
    ) -> None:
        self.registry = registry
        #: Compile the preprocessing of scikit-learn pipelines (:mod:`.compiled`), verified
        #: equal to scikit-learn's at load; False: every model goes through scikit-learn.
        self.compile_models = compile_models
        #: Masks the personal fields of each request before it is logged (:mod:`.personal`).
        self.personal = personal
        self.warehouse = warehouse
        self.tables = PredictionTables(warehouse)
        self.journal = Journal(journal_dir, self.tables.ship, interval=flush_seconds, leases=leases)
        self.alias_seconds = alias_seconds
        #: Models in their own environment (None: every model loads in this process).
        self.workers = workers
        self._resolved: dict[Reference, tuple[VersionInfo, float]] = {}
        #: Who looks a reference up (by its hash): a fixed set, whatever names callers send.
        self._resolving = [threading.Lock() for _ in range(RESOLVING_LOCKS)]
        self._models: dict[tuple[str, int], LoadedModel] = {}
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._batchers: dict[tuple[str, int], _ModelBatcher] = {}
        #: Called with each batch of log records after they are journaled.
        self.listeners: list[Callable[[Sequence[dict[str, Any]]], None]] = []

    # -- models --------------------------------------------------------------------------

    def resolve(self, ref: Reference) -> VersionInfo:
        """The version ``ref`` names; an alias or "newest" is looked up again after
        ``alias_seconds``, a version number never. One lookup of a reference at a time:
        callers that find it expired while another looks it up wait for that answer instead
        of asking the registry too (at each expiry, not once per concurrent caller)."""
        found = self._cached(ref)
        if found is not None:
            return found
        with self._resolving[hash(ref) % RESOLVING_LOCKS]:
            found = self._cached(ref)
            if found is None:
                started = time.monotonic()
                found = self.registry.resolve(ref)
                self._resolved[ref] = (found, started + self.alias_seconds)
        return found

    def _cached(self, ref: Reference) -> VersionInfo | None:
        cached = self._resolved.get(ref)
        if cached is not None and (ref.version is not None or cached[1] > time.monotonic()):
            return cached[0]
        return None

    def model(self, ref: Reference) -> LoadedModel:
        """The model version ``ref`` names, loaded once and kept."""
        info = self.resolve(ref)
        key = (info.name, info.version)
        loaded = self._models.get(key)
        if loaded is not None:
            return loaded
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            loaded = self._models.get(key)
            if loaded is None:
                plan = self.workers.plan(info) if self.workers is not None else None
                card = self.registry.run_summary(info.run_id)
                if plan is not None and self.workers is not None:
                    loaded = self.workers.model(info, card, plan)
                else:
                    loaded = LoadedModel(info, card, compile=self.compile_models)
                    settle_heap()
                self._models[key] = loaded
        return loaded

    def batcher(self, model: LoadedModel) -> Batcher:
        """The micro-batcher of ``model``'s predictions (one per loaded version)."""
        key = (model.name, model.version)
        found = self._batchers.get(key)
        if found is None or found.model is not model:
            with self._lock:
                found = self._batchers.get(key)
                if found is None or found.model is not model:
                    found = _ModelBatcher(model)
                    self._batchers[key] = found
        return found

    def environment(self, ref: Reference) -> tuple[VersionInfo, Path | None]:
        """The version ``ref`` names and the interpreter of its own environment (None when it
        runs in Atelier's); :class:`~.workers.EnvironmentBuilding` while that is built."""
        info = self.resolve(ref)
        plan = self.workers.plan(info) if self.workers is not None else None
        if plan is None or self.workers is None:
            return info, None
        what = f"model {info.name} version {info.version}"
        return info, self.workers.environments.ensure(plan, what=what)

    def runtime(self, ref: Reference, *, start: bool = False) -> dict[str, Any]:
        """Where the version ``ref`` names runs (``runs_in``: ``atelier`` or
        ``own-environment``) and the state of its environment (``ready``, ``building`` with
        progress, ``failed`` with the reason, ``not-built``); ``start``: begin building it."""
        info = self.resolve(ref)
        if self.workers is None:
            return {"runs_in": "atelier", "state": "ready", "message": "", "reasons": []}
        return self.workers.status(info, start=start)

    # -- predictions ---------------------------------------------------------------------

    def predict(
        self,
        ref: Reference,
        records: Sequence[Any],
        *,
        caller: str,
        app: str | None = None,
    ) -> PredictionBatch:
        if len(records) > MAX_RECORDS:
            raise InvalidInput(
                f"{len(records)} records in one request; send at most {MAX_RECORDS} at a time"
            )
        model = self.model(ref)
        if model.schema is None:
            raise InvalidInput(
                f"model {model.name} version {model.version} has no column signature: "
                "log it with a signature (infer_signature) to serve it"
            )
        rows = model.schema.validate(records)
        outputs, seconds = self.batcher(model).submit(rows, model.schema.missing(rows))
        latency_ms = seconds * 1000
        at = datetime.now(UTC).isoformat()
        mask = self.personal.masking(model, app) if self.personal else None
        predictions = []
        log = []
        for row, output in zip(rows, outputs, strict=True):
            prediction = Prediction(
                uuid.uuid4().hex, output.prediction, output.probability, output.probabilities
            )
            predictions.append(prediction)
            log.append(
                {
                    "prediction_id": prediction.id,
                    "predicted_at": at,
                    "model": model.name,
                    "model_version": model.version,
                    "caller": caller,
                    "app": app,
                    "inputs": encode_inputs(mask(row) if mask else row),
                    "prediction": encode_prediction(output.prediction),
                    "probability": output.probability,
                    "probabilities": (
                        _json(output.probabilities) if output.probabilities is not None else None
                    ),
                    "latency_ms": latency_ms,
                }
            )
        self.journal.append(log)
        self._remember(log)
        for listener in self.listeners:
            listener(log)
        return PredictionBatch(model.name, model.version, predictions)

    def _remember(self, log: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            for record in log:
                self._recent[record["prediction_id"]] = record
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def find(self, prediction_id: str, model: str) -> dict[str, Any]:
        """The log record of one prediction of ``model``: from memory, else the warehouse."""
        with self._lock:
            found = self._recent.get(prediction_id)
        if found is not None and found["model"] == model:
            return found
        self.journal.flush()
        table = f"{SCHEMA}.{table_name(model)}"

        def lookup(connection: Any) -> dict[str, Any] | None:
            try:
                cursor = connection.execute(
                    f"SELECT * FROM {table} WHERE prediction_id = ? AND model = ?",
                    [prediction_id, model],
                )
            except Exception:  # no table yet: no predictions of this model were logged
                return None
            row = cursor.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cursor.description]
            record = dict(zip(names, row, strict=True))
            record["predicted_at"] = record["predicted_at"].isoformat()
            return record

        with self.warehouse.connect() as connection:
            record = lookup(connection)
        if record is None:
            raise NotFound(f"no prediction {prediction_id!r} of model {model!r}")
        return record

    def flush(self) -> None:
        """Ship every journaled prediction to the warehouse now."""
        self.journal.flush()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        self.journal.close()


class _ModelBatcher(Batcher):
    def __init__(self, model: LoadedModel) -> None:
        super().__init__(model.predict_records)
        self.model = model


def settle_heap() -> None:
    """Collect garbage once, then keep what is in memory now (the server, the model just
    loaded) out of the cyclic garbage collector's later passes (``gc.freeze``).

    A server with a model loaded holds several hundred thousand objects; a full collection
    walks them all, and every request waits for it: hundreds of milliseconds on a busy
    machine, every time enough objects have outlived younger collections. Frozen objects are
    still freed when their last reference goes; only cycles among them are left to stand.
    """
    gc.collect()
    gc.freeze()


def encode_inputs(row: dict[str, Any]) -> str:
    return _json({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()})


def encode_prediction(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, separators=(",", ":"))
