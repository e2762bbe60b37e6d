"""Registered model versions loaded once and asked for predictions.

The tracking service's model registry (:mod:`atelier.services.tracking.registry`) parses
references (``churn@champion``, ``churn/3``, ``churn``) and resolves them to one version and
the local folder of its files; :class:`LoadedModel` holds that version in memory with what the
portal shows about it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput
from atelier.services.serving.compiled import COMPILING_FAILED, CompiledPipeline, plan_for
from atelier.services.serving.model_worker import (
    classes_of,
    example_records,
    fitted_categories,
    has_probabilities,
    predict_compiled,
    predict_rows,
    raw_model,
)
from atelier.services.serving.schema import InputSchema
from atelier.services.tracking.registry import VersionInfo

if TYPE_CHECKING:
    import pandas

log = logging.getLogger(__name__)

#: ``atelier`` section of a model's MLflow metadata: ``{"categories": {column: [values]}}``.
METADATA_KEY = "atelier"


@dataclass
class Output:
    prediction: Any
    probability: float | None = None
    probabilities: dict[str, float] | None = None


class LoadedModel:
    """One registered model version in memory (in Atelier's own process).

    ``compile``: a scikit-learn pipeline whose column transformer :mod:`.compiled` supports
    gets a compiled plan, used once it is verified equal to scikit-learn on validation rows.
    """

    #: How predictions are made: ``compiled`` (:mod:`.compiled`), ``scikit-learn`` or
    #: ``pyfunc``; :attr:`inference_note` says why a pipeline was not compiled.
    inference = "pyfunc"
    inference_note = ""
    compiled: CompiledPipeline | None = None

    def __init__(self, info: VersionInfo, card: Mapping[str, Any], *, compile: bool = True) -> None:
        import mlflow.pyfunc

        meta = self._read(info, card)
        self.pyfunc = mlflow.pyfunc.load_model(str(info.path))
        self.raw: Any = raw_model(self.pyfunc, meta.flavors) if "sklearn" in meta.flavors else None
        self.classes: list[Any] | None = classes_of(self.raw) if self.raw is not None else None
        if self.raw is not None:
            self.inference = "scikit-learn"
            if compile:
                self._compile()

    def _compile(self) -> None:
        """Compile and verify the pipeline's preprocessing; keep scikit-learn's otherwise."""
        self.compiled, self.inference_note = plan_for(self.raw, self.schema, self.example)
        if self.compiled is not None:
            self.inference = "compiled"
            return
        failed = self.inference_note.startswith(COMPILING_FAILED)
        log.log(logging.WARNING if failed else logging.INFO,
                "%s version %s is served through scikit-learn: %s", self.name, self.version,
                self.inference_note)  # fmt: skip

    def _read(self, info: VersionInfo, card: Mapping[str, Any]) -> Any:
        """What the version's ``MLmodel`` says (its signature, example and metadata), read
        without loading the model's own files."""
        from mlflow.models import Model

        self.info = info
        self.name = info.name
        self.version = info.version
        meta = Model.load(str(info.path))
        self.flavors = sorted(meta.flavors)
        self.metadata: dict[str, Any] = dict(meta.metadata or {})
        self.schema = InputSchema.from_signature(meta.get_input_schema())  # type: ignore[no-untyped-call]
        try:
            example = meta.load_input_example(str(info.path))
        except Exception:  # a broken example should not make the model unusable
            example = None
        self.example = example_records(example)
        self.card = dict(card)
        return meta

    #: Where the model runs: ``atelier`` (this process) or ``own-environment`` (a worker).
    runtime = "atelier"

    @property
    def has_probabilities(self) -> bool:
        return has_probabilities(self.raw, self.classes)

    def predict(self, frame: pandas.DataFrame) -> list[Output]:
        return self._outputs(self.raw, frame)

    def _outputs(self, raw: Any, data: Any) -> list[Output]:
        return [
            Output(prediction, probability, scores)
            for prediction, probability, scores in predict_rows(
                self.pyfunc, raw, self.classes, data
            )
        ]

    def predict_records(self, rows: Sequence[Mapping[str, Any]]) -> list[Output]:
        """Predictions for rows validated by :attr:`schema` (which the model has).

        A compiled pipeline (:mod:`.compiled`) gets its matrix straight from complete rows,
        with no DataFrame; rows with a missing value go through scikit-learn. A scikit-learn
        model skips its own re-checks of what validation already guaranteed: its parameters
        (checked when it was fitted) and, when every input is a typed value and none is
        missing, that the numbers are finite (:func:`.schema.convert` refuses NaN and
        infinities).
        """
        assert self.schema is not None
        if self.raw is None or "sklearn" not in self.flavors:
            return self.predict(self.schema.frame(rows))
        import sklearn

        if self.compiled is not None:
            outputs = predict_compiled(self.pyfunc, self.compiled, self.classes, rows)
            if outputs is not None:
                return [Output(*output) for output in outputs]
        complete = all(v is not None for row in rows for v in row.values())
        finite = self.schema.typed and complete
        with sklearn.config_context(assume_finite=finite, skip_parameter_validation=True):
            return self.predict(self.schema.frame(rows))

    def categories(self) -> dict[str, list[Any]]:
        """Values each text column took in training, for drop-downs: from the model's
        ``atelier.categories`` metadata, else from encoders fitted inside the model."""
        given = self.given_categories()
        if given is not None:
            return given
        return fitted_categories(self.raw) if self.raw is not None else {}

    def given_categories(self) -> dict[str, list[Any]] | None:
        given = self.metadata.get(METADATA_KEY, {})
        if isinstance(given, Mapping) and isinstance(given.get("categories"), Mapping):
            return {str(k): list(v) for k, v in given["categories"].items() if isinstance(v, list)}
        return None

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

    def close(self) -> None:
        """Let go of what the model holds (nothing to do for an in-process model)."""


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
