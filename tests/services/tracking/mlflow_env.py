"""A real MLflow for tests: a SQLite backend store and an artifact folder in a temporary folder,
set as the process's tracking URI for one test module (no tracking server needed)."""

from __future__ import annotations

from collections.abc import Iterator
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
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("tests", artifact_location=str(folder / "artifacts"))
    mlflow.set_experiment(experiment_id=experiment)
    yield Tracking(uri, folder / "artifacts", experiment)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)
