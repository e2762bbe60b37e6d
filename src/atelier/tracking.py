"""Experiment tracking with Atelier: MLflow runs that record what they need to be reproduced.

::

    import atelier.tracking

    with atelier.tracking.start_run(run_name="baseline"):
        ...  # mlflow.log_metric(...), mlflow.sklearn.log_model(...), as usual

In notebook kernels and jobs (``ATELIER_PROJECT`` set) every MLflow run gets this capture;
elsewhere :func:`start_run` (or :func:`capture`) turns it on for the process. See
:mod:`atelier.services.tracking.capture` for what is recorded. ``evaluate`` and ``compare``
are here too (and on ``atelier`` itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atelier.services.tracking.capture import data_versions

if TYPE_CHECKING:
    from atelier.services.tracking.compare import compare
    from atelier.services.tracking.evaluate import evaluate

__all__ = ["capture", "compare", "data_versions", "evaluate", "start_run"]


def start_run(**kwargs: Any) -> Any:
    """:func:`mlflow.start_run` (same arguments) with Atelier's run capture."""
    from atelier.services.tracking.capture import start_run as _start_run

    return _start_run(**kwargs)


def capture(on: bool = True) -> None:
    """Turn run capture on (or off) for the MLflow runs this process starts."""
    from atelier.services.tracking import capture as _capture

    _capture.enable(on)
    if on:
        _capture.install()


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from atelier.services.tracking.evaluate import evaluate

        return evaluate
    if name == "compare":
        from atelier.services.tracking.compare import compare

        return compare
    raise AttributeError(name)
