"""A real MLflow for tests: a SQLite backend store and an artifact folder in a temporary folder,
set as the process's tracking URI for one test module (no tracking server needed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Warnings MLflow and its dependencies raise on import and use; nothing Atelier can change.
MLFLOW_WARNINGS = [
    "ignore:The ``noload`` loader strategy is deprecated",
    r"ignore:.*Any type hint is inferred as AnyType:UserWarning",
    "ignore:For backward compatibility, 'str' dtypes are included by select_dtypes",
    "ignore:Operation with range is deprecated",
    "ignore:Hint. Inferred schema contains integer column",
]


@contextmanager
def kept_mlflow_uris() -> Iterator[None]:
    """Put MLflow's process-wide tracking and registry URIs back as they were on leaving.

    ``mlflow.set_tracking_uri`` and ``mlflow.set_registry_uri`` also write
    ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` into ``os.environ``, and
    ``set_registry_uri(None)`` leaves its variable behind; ``set_tracking_uri(get_tracking_uri())``
    pins the default (``sqlite:///mlflow.db`` in the working folder) over the environment. Either
    sends a later test's ``MlflowClient`` (whose registry URI comes from the environment first) or
    ``mlflow.genai`` call to another test's store. So the globals and the variables are saved
    and restored as they were."""
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environ = {name: os.environ.get(name) for name in names}
    tracking_uri, registry_uri = tracking._tracking_uri, registry._registry_uri
    try:
        yield
    finally:
        tracking.set_tracking_uri(tracking_uri)
        registry.set_registry_uri(registry_uri)  # type: ignore[arg-type]
        for name, value in environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class Tracking:
    uri: str
    artifacts: Path
    experiment_id: str


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    import warnings

    with warnings.catch_warnings():
        for spec in MLFLOW_WARNINGS:
            warnings.filterwarnings("ignore", spec.removeprefix("ignore:").split(":")[0])
        import mlflow

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with kept_mlflow_uris():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        experiment = mlflow.create_experiment("tests", artifact_location=str(folder / "artifacts"))
        mlflow.set_experiment(experiment_id=experiment)
        yield Tracking(uri, folder / "artifacts", experiment)
        while mlflow.active_run() is not None:
            mlflow.end_run()


def log_model_run(tracking_uri: str, artifacts: Path, *, model: bool = True) -> str:
    """A run in the MLflow store at ``tracking_uri`` (artifacts in a local folder) that logged
    a small scikit-learn model (or none); its id. The process's tracking URI is put back."""
    import warnings

    import mlflow
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from atelier.services.tracking import capture

    with kept_mlflow_uris():
        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        found = client.get_experiment_by_name("local-tests")
        experiment = (
            found.experiment_id
            if found
            else client.create_experiment("local-tests", artifact_location=str(artifacts))
        )
        data = pd.DataFrame({"fees": [1.0, 5.0, 2.0, 8.0], "tenure": [30.0, 2.0, 20.0, 1.0]})
        capture.enable()
        capture.note_read("SELECT * FROM bank.customers", lambda: 3)
        try:
            with capture.start_run(experiment_id=experiment) as run:
                mlflow.log_metric("accuracy", 1.0)
                if model:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        mlflow.sklearn.log_model(
                            LogisticRegression().fit(data, [0, 1, 0, 1]),
                            name="model",
                            input_example=data.head(2),
                            pip_requirements=["scikit-learn"],
                        )
        finally:
            capture.enable(False)
            capture.forget_reads()
        return str(run.info.run_id)
