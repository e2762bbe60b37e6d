"""One workspace (SQLite metadata, the workspace's own MLflow store) per module, with people,
a private project ``churn`` (member ada), an experiment and a run in it, an open experiment and
run, and apps: one shared with the viewer val, one not."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from atelier.backends.metadata import AppRecord, AppShare, ProjectMember, ProjectRecord
from atelier.config import Workspace
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import new_workspace
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, kept_mlflow_uris


class Statements:
    """Counts the SELECT statements this thread sends to a database."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.count = 0
        self.thread = threading.get_ident()

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == self.thread and statement.lstrip().upper().startswith("SELECT"):
            self.count += 1


@dataclass
class Scene:
    wb: Workbench
    people: dict[str, Principal]
    #: Experiment and run ids: in project churn, and open.
    private_experiment: str
    private_run: str
    open_experiment: str
    open_run: str
    root: Path


def person(wb: Workbench, name: str, role: str) -> Principal:
    user = wb.users.ensure(name, role)
    return Principal(user.id, user.name, user.role, "local")


def make_scene(root: Path, *, settings: str = "", tracking: bool = True) -> Iterator[Scene]:
    """The scene in the workspace at ``root``; ``settings`` are appended to its atelier.toml;
    without ``tracking`` no experiment or run is made (MLflow's store is slow to create)."""
    config = root / "atelier.toml"
    config.write_text(config.read_text() + settings)
    wb = Workbench(Workspace.open(root, environ={}))
    people = {
        name: person(wb, name, role)
        for name, role in (
            ("ada", "scientist"),
            ("bob", "scientist"),
            ("val", "viewer"),
            ("root", "admin"),
        )
    }
    with wb.db.session() as session:
        project = ProjectRecord(name="churn", path=str(root / "projects" / "churn"))
        session.add(project)
        session.flush()
        session.add(
            ProjectMember(project_id=project.id, user_id=people["ada"].user_id, role="owner")
        )
        for name, shared in (("demo", True), ("secret", False)):
            app = AppRecord(name=name, kind="streamlit", title=name, owner="ada")
            session.add(app)
            session.flush()
            if shared:
                session.add(AppShare(app_id=app.id, user_id=people["val"].user_id))
    if not tracking:
        try:
            yield Scene(wb, people, "", "", "", "", root)
        finally:
            wb.close()
        return
    with warnings.catch_warnings(), kept_mlflow_uris():
        for spec in MLFLOW_WARNINGS:
            warnings.filterwarnings("ignore", spec.removeprefix("ignore:").split(":")[0])
        client = wb.models.client
        private = client.create_experiment(
            "churn-trials", tags={"atelier.project": "churn", "atelier.owner": "ada"}
        )
        opened = client.create_experiment("open-trials", tags={"atelier.owner": "bob"})
        private_run = client.create_run(private, tags={"mlflow.user": "ada"}).info.run_id
        open_run = client.create_run(opened, tags={"mlflow.user": "bob"}).info.run_id
    try:
        yield Scene(wb, people, str(private), private_run, str(opened), open_run, root)
    finally:
        wb.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = new_workspace(tmp_path_factory.mktemp("discussion") / "ws")
    yield from make_scene(root)
