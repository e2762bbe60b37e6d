"""Feature store fixtures: a workspace on SQLite metadata with a small lake, and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.features import Definitions, FeatureStore
from atelier.services.workbench import Workbench


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Workbench]:
    """A workbench on SQLite only: the engine does not depend on the metadata database."""
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    yield wb
    wb.close()


@pytest.fixture
def store(local: Workbench) -> FeatureStore:
    return FeatureStore(local.db, local.warehouse, local.settings.features, local.workspace.root)


def write(store: FeatureStore, *statements: str) -> None:
    """Run SQL on the lake in one snapshot."""

    def run(con) -> None:  # type: ignore[no-untyped-def]
        for statement in statements:
            con.execute(statement)

    store.warehouse.run_write(run, author="test")


def apply(store: FeatureStore, *items: object, project: str = "test") -> None:
    from atelier.services.features import Entity, FeatureService, FeatureView

    definitions = Definitions(
        entities=[i for i in items if isinstance(i, Entity)],
        views=[i for i in items if isinstance(i, FeatureView)],
        services=[i for i in items if isinstance(i, FeatureService)],
    )
    store.apply(definitions, project=project, by="tester")
