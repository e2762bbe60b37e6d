"""Compiled preprocessing of scikit-learn pipelines: the feature matrix straight from rows.

A typical served pipeline is ``Pipeline([("prepare", ColumnTransformer([...])), ..., model])``.
Called on a one-row DataFrame, the column transformer costs far more than the model: pandas
indexing of each block, ``check_array`` and feature-name checks in every transformer, then the
stacking of the blocks. :func:`compile_pipeline` turns a fitted column transformer built from
common parts into a plan that fills the same matrix with numpy, from validated rows (Python
values typed by the signature), with no DataFrame at all; the remaining steps of the pipeline
(the model itself) are then called as scikit-learn calls them, on that matrix.

Supported, each exactly as scikit-learn computes it (the same numpy operations on the same
float64 values): ``OneHotEncoder`` (no dropped or infrequent categories, float64 output),
``StandardScaler``, ``SimpleImputer`` (a no-op on complete rows), ``"passthrough"`` and
``"drop"``, and a ``Pipeline`` of imputers followed by one of the others inside a column. A
pipeline with anything else is not compiled and is served through scikit-learn as before.

A compiled plan is used only once it is **verified**: at load, on the model's input example
and on rows made from it (every training category of each encoded column, an unseen one, and
edge values of each number), the compiled matrix must equal scikit-learn's own transform
element for element, with the same dtype and sparsity, and so the predictions are the same.
Per request, rows with a missing (null) value, and rows with an unseen category for an encoder
that raises on unseen values, go through scikit-learn so that they get exactly its answer or
its error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError
from atelier.services.serving.schema import TYPES, InputSchema

if TYPE_CHECKING:
    import numpy

#: Categories of one encoded column tried when a plan is verified (the first ones).
VERIFY_CATEGORIES = 200
#: A value no encoder was trained on, to verify what an unseen category gives.
UNSEEN = "\x00atelier-unseen-category"


class Unsupported(Exception):
    """The pipeline has a part this module does not compile (the message says which)."""


@dataclass
class _OneHot:
    """One-hot columns: ``lookups[j]`` maps a value of ``columns[j]`` to its output column."""

    columns: list[str]
    lookups: list[dict[Any, int]]
    ignore_unseen: bool
    width: int

    def fill(self, out: numpy.ndarray, start: int, rows: Sequence[Mapping[str, Any]]) -> bool:
        for index, row in enumerate(rows):
            for name, lookup in zip(self.columns, self.lookups, strict=True):
                position = lookup.get(row[name])
                if position is not None:
                    out[index, start + position] = 1.0
                elif not self.ignore_unseen:
                    return False  # scikit-learn raises: let it say so
        return True


@dataclass
class _Numbers:
    """Numeric columns as float64, optionally centred and scaled (``StandardScaler``)."""

    columns: list[str]
    dtypes: list[str]
    mean: numpy.ndarray | None
    scale: numpy.ndarray | None

    @property
    def width(self) -> int:
        return len(self.columns)

    def fill(self, out: numpy.ndarray, start: int, rows: Sequence[Mapping[str, Any]]) -> bool:
        import numpy as np

        block = np.empty((len(rows), len(self.columns)), dtype=np.float64)
        for j, (name, dtype) in enumerate(zip(self.columns, self.dtypes, strict=True)):
            # Typed as the DataFrame column would be (float32 rounding included), then widened.
            block[:, j] = np.array([row[name] for row in rows], dtype=dtype)
        if self.mean is not None:
            block -= self.mean
        if self.scale is not None:
            block /= self.scale
        out[:, start : start + block.shape[1]] = block
        return True


_Block = _OneHot | _Numbers


class _Logistic:
    """A fitted ``LogisticRegression``'s ``predict_proba`` and ``predict`` on a float64
    matrix, with scikit-learn's own arithmetic (``X @ coef_.T + intercept_``, then its
    ``expit`` or ``softmax``) and without its per-call input checks, which the compiled
    matrix makes moot (a float64 matrix of the fitted width, no NaN or infinity)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.coef_t = model.coef_.T if model.coef_.ndim == 2 else model.coef_
        self.intercept = model.intercept_
        self.binary = len(model.classes_) <= 2
        if self.binary and self.coef_t.ndim == 2 and self.coef_t.shape[1] != 1:
            raise Unsupported("a binary model with several coefficient rows is not compiled")

    def _scores(self, matrix: Any) -> Any:
        scores = matrix @ self.coef_t + self.intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def predict_proba(self, matrix: Any) -> Any:
        import numpy as np
        from scipy import special
        from sklearn.utils.extmath import softmax

        scores = self._scores(matrix)
        if not self.binary:
            return softmax(scores, copy=False)
        probability = special.expit(scores, out=scores)
        return np.stack([1 - probability, probability], axis=1)

    def predict(self, matrix: Any) -> Any:
        import numpy as np

        scores = self._scores(matrix)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_.take(indices, axis=0)


def _fast_final(final: Any) -> Any:
    """The model as :class:`_Logistic` when it is a plain binary or multinomial
    ``LogisticRegression`` of float64 coefficients, else the model itself."""
    from sklearn.linear_model import LogisticRegression

    if type(final) is not LogisticRegression or final.coef_.dtype.name != "float64":
        return final
    if len(final.classes_) > 2 and getattr(final, "multi_class", "auto") == "ovr":
        return final
    return _Logistic(final)


class CompiledPipeline:
    """A verified plan for a pipeline's column transformer, and the rest of the pipeline.

    Stands in for the pipeline in :func:`.model_worker.predict_rows`: ``predict_proba`` and
    ``predict`` take the matrix of :meth:`matrix`, ``classes_`` is the model's.
    """

    def __init__(
        self,
        blocks: Sequence[tuple[int, _Block]],
        width: int,
        sparse: bool,
        steps: Sequence[Any],
        final: Any,
    ) -> None:
        self.blocks = list(blocks)
        self.width = width
        self.sparse = sparse
        self.steps = list(steps)
        self.final = _fast_final(final)
        if hasattr(final, "classes_"):
            self.classes_ = final.classes_

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """The transformed rows as scikit-learn's column transformer gives them, or None when
        a row needs scikit-learn itself (an unseen category its encoder refuses)."""
        import numpy as np

        out = np.zeros((len(rows), self.width), dtype=np.float64)
        for start, block in self.blocks:
            if not block.fill(out, start, rows):
                return None
        if self.sparse:
            from scipy import sparse

            return sparse.csr_matrix(out)
        return out

    @property
    def native(self) -> bool:
        """Whether no scikit-learn code runs per call (a compiled logistic regression)."""
        return not self.steps and isinstance(self.final, _Logistic)

    def _through(self, matrix: Any) -> Any:
        for step in self.steps:
            matrix = step.transform(matrix)
        return matrix

    def predict(self, matrix: Any) -> Any:
        return self.final.predict(self._through(matrix))

    def __getattr__(self, name: str) -> Any:
        # ``predict_proba`` exactly when the model has it (``hasattr`` tells predict_rows).
        if name == "predict_proba" and hasattr(self.final, "predict_proba"):
            return lambda matrix: self.final.predict_proba(self._through(matrix))
        raise AttributeError(name)


def compile_pipeline(raw: Any, schema: InputSchema) -> CompiledPipeline:
    """The plan for ``raw`` (a fitted scikit-learn pipeline); :class:`Unsupported` says why
    there is none. Not yet verified: see :func:`verify`."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(raw, Pipeline) or len(raw.steps) < 2:
        raise Unsupported("not a pipeline whose first step is a column transformer")
    first = raw.steps[0][1]
    if not isinstance(first, ColumnTransformer):
        raise Unsupported("the first step is not a column transformer")
    _default_output(first)
    steps = [step for _, step in raw.steps[1:-1] if step not in (None, "passthrough")]
    final = raw.steps[-1][1]
    for step in [*steps, final]:
        _default_output(step)
        if hasattr(step, "feature_names_in_"):
            raise Unsupported("a later step was fitted on named columns")
    if final in (None, "passthrough"):
        raise Unsupported("the pipeline ends without a model")
    if getattr(first, "transformer_weights", None):
        raise Unsupported("the column transformer weighs its transformers")
    names = list(getattr(first, "feature_names_in_", []))
    if not names:
        raise Unsupported("the column transformer was fitted without column names")
    by_name = schema.by_name
    blocks: list[tuple[int, _Block]] = []
    position = 0
    for name, transformer, selected in first.transformers_:
        indices = first._transformer_to_input_indices.get(name, [])
        if (isinstance(transformer, str) and transformer == "drop") or len(indices) == 0:
            continue
        if isinstance(selected, str | int):
            # A scalar selection hands the transformer one 1-D column, not a table.
            raise Unsupported(f"transformer {name!r} selects one column as a scalar")
        columns = [str(names[i]) for i in indices]
        missing = [c for c in columns if c not in by_name]
        if missing:
            raise Unsupported(f"columns {missing} are not in the signature")
        block = _block(transformer, columns, schema)
        blocks.append((position, block))
        position += block.width
    width = max((s.stop for s in first.output_indices_.values()), default=0)
    if position != width:
        raise Unsupported(f"the compiled plan has {position} columns, the transformer {width}")
    return CompiledPipeline(blocks, position, bool(first.sparse_output_), steps, final)


def _default_output(estimator: Any) -> None:
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    if config.get("transform", "default") != "default":
        raise Unsupported("a step is set to give DataFrames (set_output)")


def _block(transformer: Any, columns: list[str], schema: InputSchema) -> _Block:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    kinds = [schema.by_name[c].type for c in columns]
    parts = (
        list(transformer.named_steps.values())
        if isinstance(transformer, Pipeline)
        else [transformer]
    )
    parts = [p for p in parts if p not in (None, "passthrough")]
    for part in parts:
        _default_output(part)
    while parts and isinstance(parts[0], SimpleImputer) and len(parts) > 1:
        _identity_imputer(parts.pop(0))
    if len(parts) != 1:
        raise Unsupported(f"{type(transformer).__name__} is not compiled")
    part = parts[0]
    if isinstance(part, SimpleImputer):
        _identity_imputer(part)
        return _numbers(columns, kinds, None, None)
    if isinstance(part, FunctionTransformer):
        if part.func is not None or getattr(part, "validate", False):
            raise Unsupported("a FunctionTransformer with a function is not compiled")
        return _numbers(columns, kinds, None, None)
    if isinstance(part, StandardScaler):
        if all(TYPES[k][1] == "float32" for k in kinds if k in TYPES):
            raise Unsupported("a scaler of float32 columns computes in float32")
        mean = part.mean_.astype("float64") if part.with_mean else None
        scale = part.scale_ if part.with_std and part.scale_ is not None else None
        return _numbers(columns, kinds, mean, scale)
    if isinstance(part, OneHotEncoder):
        return _one_hot(part, columns, kinds)
    raise Unsupported(f"{type(part).__name__} is not compiled")


def _identity_imputer(imputer: Any) -> None:
    """An imputer that changes nothing in rows without missing values, or Unsupported."""
    import numpy as np

    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise Unsupported("an imputer of values other than NaN is not compiled")
    if imputer.add_indicator:
        raise Unsupported("an imputer with a missing-value indicator is not compiled")
    statistics = np.asarray(imputer.statistics_)
    empty = statistics.dtype.kind == "f" and bool(np.isnan(statistics).any())
    if empty and not imputer.keep_empty_features:
        raise Unsupported("an imputer that drops empty columns is not compiled")


def _numbers(columns: list[str], kinds: list[str], mean: Any, scale: Any) -> _Numbers:
    dtypes = []
    for name, kind in zip(columns, kinds, strict=True):
        dtype = TYPES.get(kind, ("", "object"))[1]
        if dtype in ("object", "datetime64[ns]"):
            raise Unsupported(f"column {name!r} ({kind}) is not a number")
        dtypes.append(dtype)
    return _Numbers(columns, dtypes, mean, scale)


def _one_hot(encoder: Any, columns: list[str], kinds: list[str]) -> _OneHot:
    import numpy as np

    if encoder.drop is not None or getattr(encoder, "_drop_idx_after_grouping", None) is not None:
        raise Unsupported("a one-hot encoder that drops a category is not compiled")
    if getattr(encoder, "_infrequent_enabled", False):
        raise Unsupported("a one-hot encoder with infrequent categories is not compiled")
    if np.dtype(encoder.dtype) != np.float64:
        raise Unsupported("a one-hot encoder of another dtype than float64 is not compiled")
    lookups = []
    width = 0
    for name, kind, categories in zip(columns, kinds, encoder.categories_, strict=True):
        wanted = {"string": "OU", "binary": "OU", "long": "iu", "integer": "iu", "boolean": "b"}
        if kind not in wanted or categories.dtype.kind not in wanted[kind]:
            raise Unsupported(f"column {name!r} ({kind}) is encoded from {categories.dtype}")
        lookup: dict[Any, int] = {}
        for index, value in enumerate(categories.tolist()):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue  # a missing value: such rows go through scikit-learn
            if kind in ("string", "binary") and not isinstance(value, str):
                raise Unsupported(f"column {name!r} has a category that is not text")
            lookup[value] = width + index
        lookups.append(lookup)
        width += len(categories)
    ignore = encoder.handle_unknown in ("ignore", "infrequent_if_exist")
    return _OneHot(columns, lookups, ignore, width)


# -- verification --------------------------------------------------------------------------------


def verification_rows(
    plan: CompiledPipeline, schema: InputSchema, examples: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Rows to check ``plan`` on: the complete example rows, then one row per training
    category of each encoded column, an unseen category, and edge values of each number."""
    complete = [dict(row) for row in examples if all(v is not None for v in row.values())]
    base = complete[0] if complete else _made_up_row(plan, schema)
    rows = list(complete) or [dict(base)]
    for _, block in plan.blocks:
        if isinstance(block, _OneHot):
            for name, lookup in zip(block.columns, block.lookups, strict=True):
                for value in list(lookup)[:VERIFY_CATEGORIES]:
                    rows.append({**base, name: value})
                if block.ignore_unseen and schema.by_name[name].type in ("string", "binary"):
                    rows.append({**base, name: UNSEEN})
        else:
            for name, dtype in zip(block.columns, block.dtypes, strict=True):
                for value in _edges(dtype):
                    rows.append({**base, name: value})
    return rows


def _made_up_row(plan: CompiledPipeline, schema: InputSchema) -> dict[str, Any]:
    known: dict[str, Any] = {}
    for _, block in plan.blocks:
        if isinstance(block, _OneHot):
            for name, lookup in zip(block.columns, block.lookups, strict=True):
                if lookup:
                    known[name] = next(iter(lookup))
    values = {
        "boolean": False,
        "integer": 1,
        "long": 1,
        "float": 0.5,
        "double": 0.5,
        "string": "x",
        "binary": "x",
        "datetime": datetime(2020, 1, 1),
    }
    row = {}
    for column in schema.columns:
        if column.name in known:
            row[column.name] = known[column.name]
        elif column.type in values:
            row[column.name] = values[column.type]
        else:
            raise Unsupported(f"no value to verify with for column {column.name!r}")
    return row


def _edges(dtype: str) -> list[Any]:
    if dtype == "bool":
        return [False, True]
    if dtype.startswith("int"):
        return [0, -7, 123_456_789]
    return [0.0, -2.5, 1e-12, 3.0e8, 123.456]


def verify(
    plan: CompiledPipeline, raw: Any, schema: InputSchema, rows: list[dict[str, Any]]
) -> None:
    """Raise :class:`Unsupported` unless ``plan`` gives exactly scikit-learn's matrix for
    ``rows`` (validated rows), and the same predictions."""
    import numpy as np
    from scipy import sparse

    frame = schema.frame(rows)
    theirs = raw.steps[0][1].transform(frame)
    ours = plan.matrix(rows)
    if ours is None:
        raise Unsupported("the verification rows could not be compiled")
    if sparse.issparse(theirs) != sparse.issparse(ours):
        raise Unsupported("the compiled matrix differs in sparsity")
    if sparse.issparse(theirs):
        theirs, ours = theirs.toarray(), ours.toarray()
    theirs = np.asarray(theirs)
    if theirs.dtype != np.float64 or theirs.shape != ours.shape:
        raise Unsupported(f"the transformer gives {theirs.dtype} {theirs.shape}")
    if not np.array_equal(theirs, ours):
        raise Unsupported("the compiled matrix differs from scikit-learn's")
    for method in ("predict_proba", "predict"):
        if not hasattr(plan, method):
            continue
        expected = getattr(raw, method)(frame)
        found = getattr(plan, method)(plan.matrix(rows))
        if isinstance(plan.final, _Logistic) and not _same(expected, found):
            plan.final = plan.final.model  # scikit-learn's own call, on the compiled matrix
            found = getattr(plan, method)(plan.matrix(rows))
        if not _same(expected, found):
            raise Unsupported(f"the compiled pipeline's {method} differs from scikit-learn's")


def _same(expected: Any, found: Any) -> bool:
    import numpy as np

    expected, found = np.asarray(expected), np.asarray(found)
    return expected.dtype == found.dtype and np.array_equal(expected, found)


#: How the note of a pipeline whose compiling broke (a misread, not a rule it breaks) begins.
COMPILING_FAILED = "compiling failed"


def plan_for(
    raw: Any, schema: InputSchema | None, example: Sequence[Mapping[str, Any]]
) -> tuple[CompiledPipeline | None, str]:
    """The verified plan for ``raw`` (a fitted scikit-learn model) with input ``schema``, its
    ``example`` records (as the model's ``MLmodel`` gives them) among the verification rows;
    or None and why there is none. A pipeline this module misreads is served as it was."""
    if schema is None:
        return None, "no column signature"
    try:
        examples = schema.validate(example) if example else []
    except AtelierError:  # an example the signature refuses verifies nothing
        examples = []
    try:
        plan = compile_pipeline(raw, schema)
        verify(plan, raw, schema, verification_rows(plan, schema, examples))
    except Unsupported as reason:
        return None, str(reason)
    except Exception as error:
        return None, f"{COMPILING_FAILED}: {type(error).__name__}: {error}"
    return plan, ""
