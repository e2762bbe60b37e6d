"""A real ``atelier up`` with MLflow and a small team, for the ownership and alias attacks.

alice and carol are scientists in project ``churn``, bob is a scientist outside it, root is an
admin. Each has an API token (also their ``MLFLOW_TRACKING_TOKEN``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from atelier.backends.metadata import ProjectMember, ProjectRecord
from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, new_workspace, start_server

API = "/mlflow/api/2.0/mlflow"
AJAX = "/mlflow/ajax-api/2.0/mlflow"
USERS = {"alice": "scientist", "bob": "scientist", "carol": "scientist", "root": "admin"}
PROJECT = "churn"


@dataclass
class Team:
    server: RunningServer
    workbench: Workbench
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(
        self, user: str, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        return httpx.request(
            method, self.url + path, json=body, headers=self.headers(user), timeout=60, **kwargs
        )

    def post(self, user: str, endpoint: str, body: Any) -> httpx.Response:
        return self.call(user, "POST", f"{API}/{endpoint}", body)

    def get(self, user: str, endpoint: str, **params: Any) -> Any:
        response = self.call(user, "GET", f"{API}/{endpoint}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    @contextmanager
    def mlflow(self, user: str) -> Iterator[Any]:
        """An ``MlflowClient`` that talks to the gateway as ``user``; ``mlflow``'s own functions
        (``mlflow.genai``) do too while it is open: both URIs are set, since a registry URI or
        tracking URI left in the process would otherwise win over the environment."""
        import mlflow

        from tests.services.tracking.mlflow_env import kept_mlflow_uris

        uri = f"{self.url}/mlflow"
        saved = os.environ.get("MLFLOW_TRACKING_TOKEN")
        os.environ["MLFLOW_TRACKING_TOKEN"] = self.tokens[user]
        try:
            with kept_mlflow_uris():
                mlflow.set_tracking_uri(uri)
                mlflow.set_registry_uri(uri)
                yield mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        finally:
            if saved is None:
                os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
            else:
                os.environ["MLFLOW_TRACKING_TOKEN"] = saved

    @property
    def artifacts(self) -> Path:
        return self.workbench.tracking_server.store.artifacts_dir

    def audit(self, action: str) -> list[Any]:
        return self.workbench.audit.entries(limit=1000, action=action)


@contextmanager
def start_team(folder: Path) -> Iterator[Team]:
    root = new_workspace(folder / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    tokens = {}
    for name, role in USERS.items():
        workbench.users.create(name, role, PASSWORD)
        tokens[name] = workbench.tokens.create(name, "test", 1)[1]
    # Project membership is all the ownership rules read (no environment needed here).
    with workbench.db.session() as session:
        project = ProjectRecord(name=PROJECT, path=str(root / "projects" / PROJECT))
        session.add(project)
        session.flush()
        for name in ("alice", "carol"):
            user_id = workbench.users.get(name).id
            session.add(ProjectMember(project_id=project.id, user_id=user_id, role="editor"))
    server = start_server(workbench.workspace)
    team = Team(server, workbench, tokens)
    try:
        # The first request waits for MLflow (started on first use).
        team.get("alice", "experiments/search", max_results=1)
        yield team
    finally:
        server.stop()
        workbench.close()
