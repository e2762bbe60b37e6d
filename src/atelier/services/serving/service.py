"""The model server: predictions from registered models, every one logged.

``predict`` resolves the model reference (aliases are looked up again at most every few
seconds), takes the version from memory (each version is loaded once), validates the records
against the signature, predicts, and journals one log record per row before answering; the
journal ships to ``predictions.<model>`` in the background (:mod:`.journal`, :mod:`.tables`).
The personal fields of each request are masked before anything is logged (:mod:`.personal`).
Recent predictions stay in memory so that feedback can quote them without a warehouse read.

A version whose captured environment differs from Atelier's runs in a worker process in its
own environment, built from its lock (:mod:`.workers`); the rest of the path is the same.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput, NotFound
from atelier.services.serving.journal import Journal
from atelier.services.serving.models import LoadedModel
from atelier.services.serving.personal import PersonalData
from atelier.services.serving.tables import SCHEMA, PredictionTables, table_name
from atelier.services.serving.workers import Workers
from atelier.services.tracking.registry import ModelRegistry, Reference, VersionInfo

if TYPE_CHECKING:
    from atelier.backends.warehouse import Warehouse

#: How long an alias keeps pointing at the version it was last seen at.
ALIAS_SECONDS = 5.0
#: Recent predictions kept in memory for feedback.
RECENT = 100_000
#: Largest batch one request may send.
MAX_RECORDS = 10_000


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
    ) -> None:
        self.registry = registry
        #: Masks the personal fields of each request before it is logged (:mod:`.personal`).
        self.personal = personal
        self.warehouse = warehouse
        self.tables = PredictionTables(warehouse)
        self.journal = Journal(journal_dir, self.tables.ship, interval=flush_seconds)
        self.alias_seconds = alias_seconds
        #: Models in their own environment (None: every model loads in this process).
        self.workers = workers
        self._resolved: dict[Reference, tuple[VersionInfo, float]] = {}
        self._models: dict[tuple[str, int], LoadedModel] = {}
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: Called with each batch of log records after they are journaled.
        self.listeners: list[Callable[[Sequence[dict[str, Any]]], None]] = []

    # -- models --------------------------------------------------------------------------

    def resolve(self, ref: Reference) -> VersionInfo:
        """The version ``ref`` names; an alias or "newest" is looked up again after
        ``alias_seconds``, a version number never."""
        now = time.monotonic()
        cached = self._resolved.get(ref)
        if cached is not None and (ref.version is not None or cached[1] > now):
            return cached[0]
        info = self.registry.resolve(ref)
        self._resolved[ref] = (info, now + self.alias_seconds)
        return info

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
                    loaded = LoadedModel(info, card)
                self._models[key] = loaded
        return loaded

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
        started = time.perf_counter()
        outputs = model.predict_records(rows)
        latency_ms = (time.perf_counter() - started) * 1000 / max(1, len(rows))
        at = datetime.now(UTC).isoformat()
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
                    "inputs": encode_inputs(
                        self.personal.mask_record(model, row, app) if self.personal else row
                    ),
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


def encode_inputs(row: dict[str, Any]) -> str:
    return _json({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()})


def encode_prediction(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str, separators=(",", ":"))
