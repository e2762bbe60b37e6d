"""``atelier.compare``: cross-validate candidate estimators side by side, as MLflow runs.

One parent run holds the comparison (parameters, the leaderboard as a table artifact
``leaderboard.json`` and as the tag ``atelier.leaderboard``, and the best candidate refitted on
all the data, logged as the model ``model`` with a signature and an input example, ready to
register); each candidate gets a child run (its parameters, per-fold and mean/std scores, fit
time). Candidates train in parallel worker processes where there are cores for them.

Metric names are scikit-learn scorer names (``accuracy``, ``f1_macro``, ``roc_auc``, …) or the
friendlier ``rmse``, ``mae``, ``mse``, ``mape`` and ``log_loss``, reported as positive numbers
(lower is better for those). The first metric ranks the leaderboard.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

#: Friendly name -> (scikit-learn scorer, the scorer negates it).
ALIASES: dict[str, tuple[str, bool]] = {
    "rmse": ("neg_root_mean_squared_error", True),
    "mae": ("neg_mean_absolute_error", True),
    "mse": ("neg_mean_squared_error", True),
    "mape": ("neg_mean_absolute_percentage_error", True),
    "log_loss": ("neg_log_loss", True),
}
BINARY_METRICS = ("roc_auc", "accuracy", "f1", "log_loss")
MULTICLASS_METRICS = ("accuracy", "f1_macro", "roc_auc_ovr", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: Parameter values are cut to MLflow's limit.
MAX_PARAM = 6000


@dataclass(frozen=True)
class Metric:
    name: str
    scorer: str
    #: The scorer reports it negated (``neg_*``): flip the sign back, and lower is better.
    negated: bool

    @property
    def higher_is_better(self) -> bool:
        return not self.negated


@dataclass
class Outcome:
    """One candidate's cross-validation, as computed in a worker."""

    name: str
    scores: dict[str, list[float]] = field(default_factory=dict)
    fit_times: list[float] = field(default_factory=list)
    error: str | None = None


def compare(
    candidates: Mapping[str, Any],
    data: Any,
    target: str,
    *,
    cv: int = 5,
    metrics: Sequence[str] | None = None,
    task: str | None = None,
    n_jobs: int | None = None,
    random_state: int = 0,
    run_name: str = "compare",
) -> pd.DataFrame:
    """Cross-validate every candidate on ``data`` (``target`` column = what to predict) and
    return the leaderboard, best first: one row per candidate (the index), ``<metric>_mean``
    and ``<metric>_std`` per metric, ``fit_time`` (mean seconds per fold), ``run_id``.

    ``df.attrs`` holds ``run_id`` (the parent run), ``best``, ``metric`` and ``model_uri`` (the
    best candidate refitted on all the data: register it, or load it with MLflow).
    """
    import mlflow
    import pandas as pd

    from atelier.services.tracking import capture
    from atelier.services.tracking.evaluate import TASKS, as_frame, split

    estimators = _check_candidates(candidates)
    features, y = split(as_frame(data), target)
    task = task or _infer_task(estimators, y)
    if task not in TASKS:
        raise InvalidInput(f"task {task!r} is not one of {', '.join(TASKS)}")
    chosen = resolve_metrics(metrics, task, int(y.nunique()))
    splitter = _splitter(cv, task, y, random_state)
    workers = max(1, min(len(estimators), n_jobs or os.cpu_count() or 1))
    outcomes = _run_all(estimators, features, y, splitter, chosen, workers)
    if all(o.error for o in outcomes):
        problems = "; ".join(f"{o.name}: {o.error}" for o in outcomes)
        raise InvalidInput(f"every candidate failed to train: {problems}")

    primary = chosen[0]
    nested = mlflow.active_run() is not None
    with capture.start_run(run_name=run_name, nested=nested) as parent:
        mlflow.log_params(
            {
                "task": task,
                "target": target,
                "cv": cv,
                "rows": len(features),
                "candidates": ",".join(estimators)[:MAX_PARAM],
                "metrics": ",".join(m.name for m in chosen),
            }
        )
        rows = []
        for outcome in outcomes:
            run_id = _log_candidate(outcome, estimators[outcome.name], chosen)
            rows.append(_row(outcome, chosen, run_id))
        board = pd.DataFrame(rows).set_index("candidate")
        board = board.sort_values(
            f"{primary.name}_mean", ascending=not primary.higher_is_better, na_position="last"
        )
        best = str(board.index[0])
        mlflow.log_table(board.reset_index(), "leaderboard.json")
        mlflow.set_tags(
            {"atelier.leaderboard": _leaderboard_tag(board, primary), "atelier.best": best}
        )
        for column in board.columns:
            value = board.loc[best, column]
            if column.endswith(("_mean", "_std")) and _finite(value):
                mlflow.log_metric(f"cv_{column}", float(value))
        model_uri = _log_best(estimators[best], features, y)
    board.attrs.update(
        {"run_id": parent.info.run_id, "best": best, "metric": primary.name, "model_uri": model_uri}
    )
    return board


# -- checks -----------------------------------------------------------------------------------


def _check_candidates(candidates: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(candidates, Mapping) or not candidates:
        raise InvalidInput(
            "candidates must be a non-empty dict of {name: estimator}, e.g. "
            "{'logreg': LogisticRegression(), 'forest': RandomForestClassifier()}"
        )
    checked = {}
    for name, estimator in candidates.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"candidate name {name!r} must be a non-empty string")
        for method in ("fit", "predict", "get_params"):
            if not callable(getattr(estimator, method, None)):
                raise InvalidInput(
                    f"candidate {name!r} ({type(estimator).__name__}) has no {method}(): give "
                    "an estimator that follows the scikit-learn API"
                )
        checked[name] = estimator
    return checked


def _infer_task(estimators: dict[str, Any], y: pd.Series[Any]) -> str:
    from sklearn.base import is_classifier, is_regressor

    kinds = {
        "classification" if is_classifier(e) else "regression" if is_regressor(e) else None
        for e in estimators.values()
    }
    kinds.discard(None)
    if len(kinds) > 1:
        raise InvalidInput(
            "the candidates mix classifiers and regressors: compare one kind at a time"
        )
    if kinds:
        return str(kinds.pop())
    numeric = y.dtype.kind in "fc" or (y.dtype.kind in "iu" and y.nunique() > 20)
    return "regression" if numeric else "classification"


def resolve_metrics(names: Sequence[str] | None, task: str, n_classes: int) -> list[Metric]:
    """The scorers for ``names`` (or the task's defaults); unknown names are an error."""
    from sklearn.metrics import get_scorer_names

    if names is None:
        if task == "regression":
            names = REGRESSION_METRICS
        else:
            names = BINARY_METRICS if n_classes == 2 else MULTICLASS_METRICS
    if isinstance(names, str):
        names = [names]
    if not names:
        raise InvalidInput("metrics must name at least one metric")
    known = set(get_scorer_names())
    chosen = []
    for name in names:
        if name in ALIASES:
            scorer, negated = ALIASES[name]
        elif name in known:
            scorer, negated = name, name.startswith("neg_")
            name = name.removeprefix("neg_")
        else:
            raise InvalidInput(
                f"unknown metric {name!r}: use {', '.join(ALIASES)} or a scikit-learn scorer "
                "name (sklearn.metrics.get_scorer_names())"
            )
        chosen.append(Metric(name, scorer, negated))
    return chosen


def _splitter(cv: int, task: str, y: pd.Series[Any], random_state: int) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if not isinstance(cv, int) or isinstance(cv, bool) or cv < 2:
        raise InvalidInput(f"cv must be a number of folds of at least 2, not {cv!r}")
    if cv > len(y):
        raise InvalidInput(f"cv={cv} folds need at least {cv} rows; the data has {len(y)}")
    if task == "classification":
        smallest = int(y.value_counts().min())
        if smallest < cv:
            rare = y.value_counts().idxmin()
            raise InvalidInput(
                f"class {rare!r} of the target has only {smallest} row(s): too few for cv={cv} "
                "stratified folds (lower cv or drop the class)"
            )
        return StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    return KFold(n_splits=cv, shuffle=True, random_state=random_state)


# -- training ---------------------------------------------------------------------------------


def _run_all(
    estimators: dict[str, Any],
    features: pd.DataFrame,
    y: pd.Series[Any],
    splitter: Any,
    metrics: list[Metric],
    workers: int,
) -> list[Outcome]:
    from joblib import Parallel, delayed
    from sklearn.base import clone

    jobs = (
        delayed(cross_validate_one)(name, clone(e), features, y, splitter, metrics)
        for name, e in estimators.items()
    )
    if workers == 1:
        return [fn(*args, **kwargs) for fn, args, kwargs in jobs]
    outcomes: list[Outcome] = Parallel(n_jobs=workers)(jobs)
    return outcomes


def cross_validate_one(
    name: str,
    estimator: Any,
    features: pd.DataFrame,
    y: pd.Series[Any],
    splitter: Any,
    metrics: list[Metric],
) -> Outcome:
    """One candidate's cross-validation (runs in a worker process when in parallel)."""
    from sklearn.model_selection import cross_validate

    scoring = {m.name: m.scorer for m in metrics}
    try:
        found = cross_validate(
            estimator, features, y, cv=splitter, scoring=scoring, error_score="raise"
        )
    except Exception as error:
        return Outcome(name, error=f"{type(error).__name__}: {error}")
    sign = {m.name: -1.0 if m.negated else 1.0 for m in metrics}
    scores = {m: [sign[m] * float(v) for v in found[f"test_{m}"]] for m in scoring}
    return Outcome(name, scores, [float(t) for t in found["fit_time"]])


# -- logging ----------------------------------------------------------------------------------


def _log_candidate(outcome: Outcome, estimator: Any, metrics: list[Metric]) -> str:
    import mlflow
    from mlflow.entities import RunStatus

    with mlflow.start_run(run_name=outcome.name, nested=True) as run:
        mlflow.set_tags(
            {"atelier.candidate": outcome.name, "atelier.estimator": type(estimator).__name__}
        )
        params = {
            key: str(value)[:MAX_PARAM] for key, value in estimator.get_params(deep=False).items()
        }
        if params:
            mlflow.log_params(params)
        if outcome.error:
            mlflow.set_tag("atelier.error", outcome.error[:MAX_PARAM])
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
            return str(run.info.run_id)
        for metric in metrics:
            values = outcome.scores[metric.name]
            for fold, value in enumerate(values):
                if math.isfinite(value):
                    mlflow.log_metric(metric.name, value, step=fold)
            summary = _summary(values)
            mlflow.log_metrics({f"{metric.name}_{k}": v for k, v in summary.items() if _finite(v)})
        mlflow.log_metric("fit_time", _summary(outcome.fit_times)["mean"])
        return str(run.info.run_id)


def _summary(values: list[float]) -> dict[str, float]:
    import numpy as np

    array = np.asarray(values, dtype=float)
    if len(array) == 0:
        return {"mean": math.nan, "std": math.nan}
    return {"mean": float(np.mean(array)), "std": float(np.std(array))}


def _row(outcome: Outcome, metrics: list[Metric], run_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"candidate": outcome.name}
    for metric in metrics:
        summary = _summary(outcome.scores.get(metric.name, []))
        row[f"{metric.name}_mean"] = summary["mean"]
        row[f"{metric.name}_std"] = summary["std"]
    row["fit_time"] = _summary(outcome.fit_times)["mean"]
    row["run_id"] = run_id
    row["error"] = outcome.error
    return row


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _leaderboard_tag(board: pd.DataFrame, primary: Metric) -> str:
    entries = []
    for name, row in board.iterrows():
        entry: dict[str, Any] = {"candidate": name, "run_id": row["run_id"]}
        for column, value in row.items():
            if str(column).endswith(("_mean", "_std")) or column == "fit_time":
                entry[str(column)] = round(float(value), 6) if _finite(value) else None
        if row["error"]:
            entry["error"] = str(row["error"])[:200]
        entries.append(entry)
    payload = {"metric": primary.name, "higher_is_better": primary.higher_is_better}
    # MLflow's tag limit: drop the worst candidates until it fits (the artifact has them all).
    while entries:
        text = json.dumps({**payload, "rows": entries}, separators=(",", ":"))
        if len(text) <= 8000:
            return text
        entries.pop()
    return json.dumps({**payload, "rows": []})


def _log_best(estimator: Any, features: pd.DataFrame, y: pd.Series[Any]) -> str:
    """Refit the best candidate on all the data and log it as the run's model."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.base import clone

    model = clone(estimator)
    started = time.perf_counter()
    model.fit(features, y)
    mlflow.log_metric("refit_time", time.perf_counter() - started)
    example = features.head(5)
    with warnings.catch_warnings():
        # Hints meant for hand-written signatures: the columns are what the model was fit on.
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        warnings.filterwarnings("ignore", "Operation with range is deprecated")
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            # The exact environment is captured by the run; inferring it here would load the
            # model in a subprocess (tens of seconds).
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
            skops_trusted_types=own_types(model),
        )
    return str(info.model_uri)


def own_types(model: Any) -> list[str] | None:
    """The types skops would refuse to load back from ``model`` (tree ensembles' node arrays,
    for one). This model was fitted here, in this process, so its own types are trusted;
    anything else in a file is still refused when it is loaded."""
    try:
        import skops.io
    except ImportError:
        return None
    try:
        untrusted: list[str] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    except Exception:  # not serializable by skops: MLflow reports it when it saves
        return None
    return untrusted or None
