"""Registered model versions loaded once and asked for predictions.

The tracking service's model registry (:mod:`atelier.services.tracking.registry`) parses
references (``churn@champion``, ``churn/3``, ``churn``) and resolves them to one version and
the local folder of its files; :class:`LoadedModel` holds that version in memory with what the
portal shows about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput
from atelier.services.serving.schema import InputSchema
from atelier.services.tracking.registry import VersionInfo

if TYPE_CHECKING:
    import pandas

#: ``atelier`` section of a model's MLflow metadata: ``{"categories": {column: [values]}}``.
METADATA_KEY = "atelier"
#: More known values than this and a text column is a text box, not a drop-down.
MAX_CATEGORIES = 200


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
