"""``atelier.evaluate``: the standard evaluation of a fitted model, logged to an MLflow run.

Classification: accuracy, precision, recall, F1 (macro averages for more than two classes),
ROC AUC, PR AUC (average precision), log loss, confusion matrix, ROC, PR and calibration curves.
Regression: RMSE, MAE, R², MAPE and residual plots. Both: permutation feature importance.

Each plot is a PNG under ``evaluation/`` in the run, next to a JSON file with the data behind
it (the portal draws its charts from those):

* ``roc_curve.json``: ``{"curves": [{"label", "fpr", "tpr", "auc"}]}``
* ``pr_curve.json``: ``{"curves": [{"label", "recall", "precision", "average_precision"}]}``
* ``calibration.json``: ``{"curves": [{"label", "mean_predicted", "fraction_positive"}]}``
* ``confusion_matrix.json``: ``{"labels", "matrix"}`` (rows: actual, columns: predicted)
* ``residuals.json``: ``{"predicted", "actual", "residual"}`` (at most 2,000 points)
* ``feature_importance.json``: ``{"scoring", "features": [{"feature", "mean", "std"}]}``
* ``metrics.json``: every metric logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from atelier.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
TASKS = ("classification", "regression")
#: Points kept per curve or scatter in the JSON files (the images use every point).
MAX_POINTS = 2000


@dataclass
class Report:
    """What an evaluation found: metrics, and the plots and data files to log."""

    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)


def evaluate(
    model: Any,
    data: Any,
    target: str,
    task: str = "classification",
    *,
    run_id: str | None = None,
    prefix: str = "",
    importance_rows: int = 2000,
    importance_repeats: int = 5,
    random_state: int = 0,
) -> dict[str, float]:
    """Evaluate fitted ``model`` on ``data`` (a pandas, polars or Arrow table holding the
    features and the ``target`` column) and log the results to run ``run_id``, else to the
    active run, else to a new run. Returns the metrics as logged (names start with ``prefix``).
    """
    if task not in TASKS:
        raise InvalidInput(f"task {task!r} is not one of {', '.join(TASKS)}")
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"cannot evaluate a {type(model).__name__}: it has no predict() method "
            "(give a fitted scikit-learn estimator or pipeline)"
        )
    features, y = split(as_frame(data), target)
    if len(features) == 0:
        raise InvalidInput("cannot evaluate on an empty table: the data has no rows")
    report = Report()
    if task == "classification":
        classification(model, features, y, report)
    else:
        regression(model, features, y, report)
    importance(
        model,
        features,
        y,
        task,
        report,
        rows=importance_rows,
        repeats=importance_repeats,
        random_state=random_state,
    )
    metrics = {f"{prefix}{name}": value for name, value in report.metrics.items()}
    folder = "evaluation" + (f"/{prefix.strip('_')}" if prefix.strip("_") else "")
    report.files["metrics.json"] = {k: v if math.isfinite(v) else None for k, v in metrics.items()}
    with target_run(run_id, "evaluate") as (client, run):
        _log(client, run, metrics, report, folder)
    return metrics


# -- inputs ------------------------------------------------------------------------------------


def as_frame(data: Any) -> pd.DataFrame:
    """pandas, polars or Arrow data as a pandas DataFrame."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        frame: pd.DataFrame = data.to_pandas()
        return frame
    if module == "pyarrow" and hasattr(data, "to_pandas"):
        converted: pd.DataFrame = data.to_pandas()
        return converted
    raise InvalidInput(f"data must be a pandas, polars or Arrow table, not a {type(data).__name__}")


def split(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series[Any]]:
    """Features and target; a clear error when the target column is missing or has gaps."""
    if not isinstance(target, str) or not target:
        raise InvalidInput("target must name the column to predict, e.g. target='churned'")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(f"target column {target!r} is not in the data (columns: {columns})")
    y = frame[target]
    missing = int(y.isna().sum())
    if missing:
        raise InvalidInput(
            f"target column {target!r} has {missing} missing value(s): drop or fill those rows"
        )
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise InvalidInput(f"the data has no feature columns besides the target {target!r}")
    return features, y


def _predict(model: Any, method: str, features: pd.DataFrame) -> Any:
    try:
        return getattr(model, method)(features)
    except Exception as error:
        from sklearn.exceptions import NotFittedError

        if isinstance(error, NotFittedError):
            raise InvalidInput(
                f"the {type(model).__name__} is not fitted: call fit() first, or evaluate "
                "the model that atelier.compare fitted"
            ) from None
        raise InvalidInput(
            f"{type(model).__name__}.{method}() failed on the data: {error}"
        ) from error


# -- classification ----------------------------------------------------------------------------


def classification(model: Any, features: pd.DataFrame, y: pd.Series[Any], report: Report) -> None:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.preprocessing import label_binarize

    from atelier.services.tracking import plots

    predicted = _predict(model, "predict", features)
    fitted = getattr(model, "classes_", None)
    classes: list[Any] = list(fitted) if fitted is not None else []
    if not classes:
        classes = sorted(set(y.tolist()) | set(np.asarray(predicted).tolist()), key=str)
    labels = [str(c) for c in classes]
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive = classes[-1] if binary else None
    m = report.metrics
    m["accuracy"] = float(skm.accuracy_score(y, predicted))
    for name, score in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        m[name] = float(
            score(
                y, predicted, average=average, pos_label=positive, labels=classes, zero_division=0
            )
            if binary
            else score(y, predicted, average=average, labels=classes, zero_division=0)
        )
    matrix = skm.confusion_matrix(y, predicted, labels=classes).tolist()
    report.files["confusion_matrix.json"] = {"labels": labels, "matrix": matrix}
    report.figures["confusion_matrix.png"] = plots.confusion(matrix, labels)

    probabilities = _scores(model, features, len(classes))
    if probabilities is None:
        log.info("the model has no predict_proba/decision_function: no ROC, PR or log loss")
        return
    scores, calibrated = probabilities
    truth = label_binarize(y, classes=classes)
    if binary:
        truth = np.hstack([1 - truth, truth])
    present = [i for i in range(len(classes)) if 0 < truth[:, i].sum() < len(truth)]
    shown = [len(classes) - 1] if binary else present
    roc: list[dict[str, Any]] = []
    pr: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    for i in shown:
        if i not in present:
            continue
        fpr, tpr, _ = skm.roc_curve(truth[:, i], scores[:, i])
        precision, recall, _ = skm.precision_recall_curve(truth[:, i], scores[:, i])
        roc.append(
            {
                "label": labels[i],
                "fpr": _thin(fpr),
                "tpr": _thin(tpr),
                "auc": float(skm.auc(fpr, tpr)),
            }
        )
        pr.append(
            {
                "label": labels[i],
                "recall": _thin(recall),
                "precision": _thin(precision),
                "average_precision": float(skm.average_precision_score(truth[:, i], scores[:, i])),
            }
        )
        if calibrated:
            from sklearn.calibration import calibration_curve

            fraction, mean = calibration_curve(truth[:, i], scores[:, i], n_bins=10)
            calibration.append(
                {
                    "label": labels[i],
                    "mean_predicted": _thin(mean),
                    "fraction_positive": _thin(fraction),
                }
            )
    if present:
        if binary:
            m["roc_auc"] = roc[0]["auc"]
            m["pr_auc"] = pr[0]["average_precision"]
        elif len(present) == len(classes):
            m["roc_auc"] = float(skm.roc_auc_score(truth, scores, average="macro"))
            m["pr_auc"] = float(skm.average_precision_score(truth, scores, average="macro"))
        else:
            log.warning("some classes never occur in the data: no ROC AUC or PR AUC")
    if calibrated:
        m["log_loss"] = float(skm.log_loss(y, scores, labels=classes))
    if roc:
        report.files["roc_curve.json"] = {"curves": roc}
        report.figures["roc_curve.png"] = plots.curves(
            "ROC curve",
            "False positive rate",
            "True positive rate",
            [(f"{c['label']} (AUC {c['auc']:.3f})", c["fpr"], c["tpr"]) for c in roc],
            diagonal=True,
        )
        report.files["pr_curve.json"] = {"curves": pr}
        report.figures["pr_curve.png"] = plots.curves(
            "Precision-recall curve",
            "Recall",
            "Precision",
            [
                (f"{c['label']} (AP {c['average_precision']:.3f})", c["recall"], c["precision"])
                for c in pr
            ],
        )
    if calibration:
        report.files["calibration.json"] = {"curves": calibration}
        report.figures["calibration.png"] = plots.curves(
            "Calibration",
            "Mean predicted probability",
            "Fraction of positives",
            [(c["label"], c["mean_predicted"], c["fraction_positive"]) for c in calibration],
            diagonal=True,
        )


def _scores(
    model: Any, features: pd.DataFrame, n_classes: int
) -> tuple[np.ndarray[Any, Any], bool] | None:
    """Per-class scores, and whether they are probabilities (log loss, calibration)."""
    import numpy as np

    if callable(getattr(model, "predict_proba", None)):
        return np.asarray(_predict(model, "predict_proba", features), dtype=float), True
    if callable(getattr(model, "decision_function", None)):
        scores = np.asarray(_predict(model, "decision_function", features), dtype=float)
        if scores.ndim == 1:
            scores = np.column_stack([-scores, scores])
        return (scores, False) if scores.shape[1] == n_classes else None
    return None


# -- regression --------------------------------------------------------------------------------


def regression(model: Any, features: pd.DataFrame, y: pd.Series[Any], report: Report) -> None:
    import numpy as np
    from sklearn import metrics as skm

    from atelier.services.tracking import plots

    try:
        actual = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"target column {y.name!r} is not numeric: use task='classification' for labels"
        ) from None
    predicted = np.asarray(_predict(model, "predict", features), dtype=float).reshape(-1)
    residual = actual - predicted
    m = report.metrics
    m["rmse"] = float(math.sqrt(skm.mean_squared_error(actual, predicted)))
    m["mae"] = float(skm.mean_absolute_error(actual, predicted))
    m["r2"] = float(skm.r2_score(actual, predicted)) if len(actual) > 1 else float("nan")
    m["mape"] = float(skm.mean_absolute_percentage_error(actual, predicted))
    keep = _sample_index(len(actual))
    report.files["residuals.json"] = {
        "predicted": predicted[keep].tolist(),
        "actual": actual[keep].tolist(),
        "residual": residual[keep].tolist(),
    }
    report.figures["residuals.png"] = plots.scatter(
        "Residuals", "Predicted", "Actual - predicted", predicted, residual, line="zero"
    )
    report.figures["predicted_vs_actual.png"] = plots.scatter(
        "Predicted vs actual", "Actual", "Predicted", actual, predicted, line="identity"
    )
    report.figures["residual_histogram.png"] = plots.histogram(
        "Residual distribution", "Actual - predicted", residual
    )


# -- both --------------------------------------------------------------------------------------


def importance(
    model: Any,
    features: pd.DataFrame,
    y: pd.Series[Any],
    task: str,
    report: Report,
    *,
    rows: int,
    repeats: int,
    random_state: int,
) -> None:
    """Permutation importance of each input column, on at most ``rows`` rows."""
    from sklearn.inspection import permutation_importance

    from atelier.services.tracking import plots

    if rows <= 0 or repeats <= 0:
        return
    if len(features) > rows:
        features = features.sample(rows, random_state=random_state)
        y = y.loc[features.index]
    if task == "regression":
        scoring = "r2"
    elif "roc_auc" in report.metrics and y.nunique() == 2:
        scoring = "roc_auc"
    else:
        scoring = "accuracy"
    try:
        found = permutation_importance(
            model, features, y, scoring=scoring, n_repeats=repeats, random_state=random_state
        )
    except Exception as error:  # the metrics above stand without it
        log.warning("permutation importance failed: %s", error)
        return
    ranked = sorted(
        zip(map(str, features.columns), found.importances_mean, found.importances_std, strict=True),
        key=lambda item: -item[1],
    )
    report.files["feature_importance.json"] = {
        "scoring": scoring,
        "features": [{"feature": f, "mean": float(a), "std": float(s)} for f, a, s in ranked],
    }
    top = ranked[:20]
    report.figures["feature_importance.png"] = plots.bars(
        f"Permutation importance ({scoring})",
        [f for f, _, _ in top],
        [float(a) for _, a, _ in top],
        [float(s) for _, _, s in top],
    )


def _thin(values: Any) -> list[float]:
    """At most MAX_POINTS values, evenly spaced, first and last kept."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    return [float(v) for v in array[_sample_index(len(array))]]


def _sample_index(n: int) -> Any:
    import numpy as np

    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))


# -- logging -----------------------------------------------------------------------------------


@contextmanager
def target_run(run_id: str | None, run_name: str) -> Iterator[tuple[Any, str]]:
    """``(MlflowClient, run id)``: run ``run_id``, else the active run, else a new run (with
    Atelier's run capture) that ends when the block does."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from atelier.services.tracking import capture

    client = mlflow.MlflowClient()
    if run_id:
        try:
            client.get_run(run_id)
        except MlflowException:
            raise NotFound(
                f"no run {run_id!r} in the MLflow tracking server at {mlflow.get_tracking_uri()}"
            ) from None
        yield client, run_id
        return
    active = mlflow.active_run()
    if active is not None:
        yield client, active.info.run_id
        return
    with capture.start_run(run_name=run_name) as run:
        yield client, run.info.run_id


def _log(client: Any, run_id: str, metrics: dict[str, float], report: Report, folder: str) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in finite.items()])
    for name, fig in report.figures.items():
        client.log_figure(run_id, fig, f"{folder}/{name}")
    for name, content in report.files.items():
        client.log_dict(run_id, content, f"{folder}/{name}")
