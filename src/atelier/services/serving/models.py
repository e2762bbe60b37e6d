"""Registered model versions: found in MLflow's registry, loaded once, asked for predictions.

A :class:`ModelRef` names what a caller wants (``churn@champion``, ``churn`` + version 3, or
just ``churn`` for the newest version). :class:`ModelRegistry` resolves it to one version and
its files, reading MLflow's registry database directly (no HTTP round trip to the tracking
server) and mapping ``mlflow-artifacts:/`` locations onto the workspace's artifact folder.
:class:`LoadedModel` holds one version in memory with what the portal shows about it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput, NotFound
from atelier.services.serving.schema import InputSchema

if TYPE_CHECKING:
    import pandas

_NAME = re.compile(r"^[^@/\s][^@/]*$")
#: ``atelier`` section of a model's MLflow metadata: ``{"categories": {column: [values]}}``.
METADATA_KEY = "atelier"
#: More known values than this and a text column is a text box, not a drop-down.
MAX_CATEGORIES = 200


@dataclass(frozen=True)
class ModelRef:
    """``NAME@ALIAS``, ``NAME`` with a version, or ``NAME`` alone (its newest version)."""

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str, *, alias: str | None = None, version: int | None = None) -> ModelRef:
        name, sep, given_alias = text.strip().partition("@")
        if sep and alias and alias != given_alias:
            raise InvalidInput(f"model {text!r}: give the alias once (in the name or as alias=)")
        alias = given_alias if sep else alias
        if not name or not _NAME.match(name):
            raise InvalidInput(f"model name {text!r} is not valid: use NAME or NAME@ALIAS")
        if sep and not given_alias:
            raise InvalidInput(f"model {text!r}: the alias after '@' is empty")
        if alias and version is not None:
            raise InvalidInput(f"model {text!r}: give an alias or a version, not both")
        if version is not None and version < 1:
            raise InvalidInput(f"model version must be 1 or more (got {version})")
        return cls(name, alias or None, version)

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name} version {self.version}"
        return self.name


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: int
    path: Path
    run_id: str | None
    description: str
    aliases: tuple[str, ...]
    created_at: datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelRegistry:
    """MLflow's model registry read in-process, with local paths for model files."""

    def __init__(self, tracking_uri: str, artifact_roots: Mapping[str, Path] | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_roots = dict(artifact_roots or {})
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = mlflow_client(self.tracking_uri)
        return self._client

    def resolve(self, ref: ModelRef) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        try:
            if ref.alias:
                found = self.client.get_model_version_by_alias(ref.name, ref.alias)
            elif ref.version is not None:
                found = self.client.get_model_version(ref.name, str(ref.version))
            else:
                versions = self.client.search_model_versions(
                    f"name = '{ref.name.replace(chr(39), chr(39) * 2)}'",
                    order_by=["version_number DESC"],
                    max_results=1,
                )
                if not versions:
                    raise NotFound(
                        f"no registered model {ref.name!r} with a version: register one first"
                    )
                found = versions[0]
        except MlflowException as error:
            raise NotFound(f"no registered model {ref}: {_first_line(error)}") from None
        return VersionInfo(
            name=found.name,
            version=int(found.version),
            path=self.local_path(found),
            run_id=found.run_id,
            description=found.description or "",
            aliases=tuple(getattr(found, "aliases", ()) or ()),
            created_at=_from_millis(found.creation_timestamp),
            tags=dict(found.tags or {}),
        )

    def local_path(self, version: Any) -> Path:
        """Where the version's model files are on this machine (downloaded if remote)."""
        location = self.artifact_location(version)
        for prefix, root in self.artifact_roots.items():
            if location.startswith(prefix):
                return root / location[len(prefix) :].lstrip("/")
        if location.startswith("file://"):
            return Path(location[len("file://") :])
        if "://" not in location and ":" not in location.split("/")[0]:
            return Path(location)
        import mlflow.artifacts

        return Path(mlflow.artifacts.download_artifacts(location, tracking_uri=self.tracking_uri))

    def artifact_location(self, version: Any) -> str:
        source: str = version.source
        model_id = getattr(version, "model_id", None)
        if source.startswith("models:/m-"):
            # MLflow 3: a logged model, ``models:/<model id>``, has its own artifact location.
            model_id = model_id or source[len("models:/") :].split("/")[0]
        if model_id:
            location: str = self.client.get_logged_model(model_id).artifact_location
            return location
        return source

    def run_summary(self, run_id: str | None) -> dict[str, Any]:
        """Metrics and parameters of the run that made a version, for the model card."""
        if not run_id:
            return {}
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return {}
        return {
            "run_id": run_id,
            "run_name": run.info.run_name,
            "metrics": dict(sorted(run.data.metrics.items())),
            "params": dict(sorted(run.data.params.items())),
        }


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` on the database ``uri`` (tracking and registry), stores opened."""
    import warnings

    from mlflow import MlflowClient

    with warnings.catch_warnings():
        # MLflow 3.17's store still asks SQLAlchemy 2.1 for the deprecated ``noload`` loader
        # while it configures its mappers, once per process.
        warnings.filterwarnings("ignore", message=".*``noload`` loader strategy is deprecated")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client._tracking_client.store  # noqa: B018 - opening the store configures the mappers
        client._get_registry_client().store  # type: ignore[no-untyped-call]  # noqa: B018
    return client


@dataclass
class Output:
    prediction: Any
    probability: float | None = None
    probabilities: dict[str, float] | None = None


class LoadedModel:
    """One registered model version in memory."""

    def __init__(self, info: VersionInfo, card: Mapping[str, Any]) -> None:
        import mlflow.pyfunc
        from mlflow.models import Model

        self.info = info
        self.name = info.name
        self.version = info.version
        self.pyfunc = mlflow.pyfunc.load_model(str(info.path))
        meta = Model.load(str(info.path))
        self.flavors = sorted(meta.flavors)
        self.metadata: dict[str, Any] = dict(meta.metadata or {})
        self.schema = InputSchema.from_signature(meta.get_input_schema())  # type: ignore[no-untyped-call]
        self.raw: Any = None
        if "sklearn" in meta.flavors:
            # The estimator itself: predict_proba, and no second schema check per call.
            self.raw = self.pyfunc.get_raw_model()
        self.classes: list[Any] | None = (
            [plain(c) for c in self.raw.classes_] if hasattr(self.raw, "classes_") else None
        )
        try:
            example = meta.load_input_example(str(info.path))
        except Exception:  # a broken example should not make the model unusable
            example = None
        self.example = example_records(example)
        self.card = dict(card)

    @property
    def has_probabilities(self) -> bool:
        return self.raw is not None and hasattr(self.raw, "predict_proba") and bool(self.classes)

    def predict(self, frame: pandas.DataFrame) -> list[Output]:
        if self.raw is None:
            predicted = self.pyfunc.predict(frame)
            return [Output(plain(value)) for value in to_list(predicted)]
        if not self.has_probabilities:
            return [Output(plain(value)) for value in to_list(self.raw.predict(frame))]
        assert self.classes is not None
        # One pass through the model: the label is the most probable class (what predict()
        # answers for scikit-learn's probabilistic classifiers), not a second run of it.
        probabilities = self.raw.predict_proba(frame)
        outputs = []
        for row in probabilities:
            scores = {str(c): float(p) for c, p in zip(self.classes, row, strict=True)}
            best = max(range(len(self.classes)), key=lambda i: row[i])
            outputs.append(Output(self.classes[best], float(row[best]), scores))
        return outputs

    def categories(self) -> dict[str, list[Any]]:
        """Values each text column took in training, for drop-downs: from the model's
        ``atelier.categories`` metadata, else from encoders fitted inside the model."""
        given = self.metadata.get(METADATA_KEY, {})
        if isinstance(given, Mapping) and isinstance(given.get("categories"), Mapping):
            return {str(k): list(v) for k, v in given["categories"].items() if isinstance(v, list)}
        return fitted_categories(self.raw) if self.raw is not None else {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.info.aliases),
            "description": self.info.description,
            "created_at": self.info.created_at.isoformat() if self.info.created_at else None,
            "flavors": self.flavors,
            "inputs": self.schema.as_list() if self.schema else None,
            "classes": self.classes,
            "example": self.example,
            **self.card,
        }


def fitted_categories(estimator: Any) -> dict[str, list[Any]]:
    """``{column: categories}`` of the one-hot or ordinal encoders fitted in a scikit-learn
    pipeline or column transformer: exactly the values seen in training."""
    found: dict[str, list[Any]] = {}
    pending = [(estimator, None)]
    while pending:
        node, columns = pending.pop()
        if node is None or isinstance(node, str):
            continue
        if hasattr(node, "steps"):  # Pipeline: the first step sees the columns
            for index, (_, step) in enumerate(node.steps):
                pending.append((step, columns if index == 0 else None))
            continue
        if hasattr(node, "transformers_"):  # ColumnTransformer
            for _, transformer, selected in node.transformers_:
                names = selected if _is_names(selected) else None
                pending.append((transformer, names))
            continue
        if hasattr(node, "categories_"):
            names = columns or list(getattr(node, "feature_names_in_", []))
            for name, values in zip(names, node.categories_, strict=False):
                kept = [plain(v) for v in values if not _is_missing(v)]
                if len(kept) <= MAX_CATEGORIES:
                    found[str(name)] = kept
    return found


def _is_names(selected: Any) -> bool:
    return isinstance(selected, list | tuple) and all(isinstance(s, str) for s in selected)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def example_records(example: Any) -> list[dict[str, Any]]:
    """A model's input example as JSON-ready records (empty when it has none)."""
    if example is None:
        return []
    if hasattr(example, "to_dict"):
        rows = example.to_dict(orient="records")
    elif isinstance(example, list):
        rows = example
    elif isinstance(example, Mapping):
        rows = [dict(example)]
    else:
        return []
    return [{str(k): plain(v) for k, v in row.items()} for row in rows if isinstance(row, Mapping)]


def to_list(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        listed: list[Any] = values.tolist()
        return listed
    if hasattr(values, "to_numpy"):
        converted: list[Any] = values.to_numpy().tolist()
        return converted
    return list(values)


def plain(value: Any) -> Any:
    """A numpy/pandas scalar as the JSON-ready Python value."""
    if hasattr(value, "isoformat"):
        if isinstance(value, datetime) and value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, datetime | date) else str(value)
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _from_millis(millis: int | None) -> datetime | None:
    return datetime.fromtimestamp(millis / 1000, UTC) if millis else None


def _first_line(error: Exception) -> str:
    return str(getattr(error, "message", error)).strip().splitlines()[0]


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def records_from_body(body: Any) -> tuple[Sequence[Any], bool]:
    """The records of a predict request, and whether it was a batch.

    Accepted: one object (one record); a list of objects; ``{"records": [...]}``; and
    MLflow's scoring formats ``{"dataframe_records": [...]}`` and
    ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``.
    """
    if isinstance(body, list):
        return body, True
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object or a list of objects")
    for key in ("records", "dataframe_records", "inputs"):
        if key in body:
            records = body[key]
            if not isinstance(records, list):
                raise InvalidInput(f"{key!r} must be a list of objects")
            return records, True
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, Mapping) or not isinstance(split.get("columns"), list):
            raise InvalidInput("'dataframe_split' needs 'columns' and 'data'")
        columns = split["columns"]
        data = split.get("data")
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise InvalidInput("'dataframe_split.data' must be a list of rows (lists)")
        for index, row in enumerate(data):
            if len(row) != len(columns):
                raise InvalidInput(
                    f"dataframe_split row {index} has {len(row)} values for {len(columns)} columns"
                )
        return [dict(zip(columns, row, strict=True)) for row in data], True
    return [body], False
