"""A registered churn model (real MLflow registry on SQLite) shared by the serving tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.tracking.registry import ModelRegistry
from atelier.services.workbench import Workbench
from tests.services.serving.helpers import register_churn_model


@dataclass
class Registered:
    tracking_uri: str
    artifacts: Path
    version: int

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.tracking_uri)


@pytest.fixture(scope="package")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    version = register_churn_model(uri, root / "artifacts")
    return Registered(uri, root / "artifacts", version)


@pytest.fixture(scope="package")
def lake_workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root, _ = init_workspace(tmp_path_factory.mktemp("serving") / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    yield wb
    wb.close()
