"""The embedded client: services called in-process on a local workspace (no server needed)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.config import Workspace
from atelier.sdk.client import Client, Mode
from atelier.services.workbench import Workbench

if TYPE_CHECKING:
    import pyarrow

    from atelier.sdk.apps import Apps
    from atelier.sdk.features import Features
    from atelier.sdk.jobs import Jobs
    from atelier.sdk.models import Models
    from atelier.sdk.projects import Projects


class EmbeddedClient(Client):
    def __init__(
        self, workspace: Workspace, token: str | None = None, *, client: str = "sdk"
    ) -> None:
        """Acts as the user of ``token`` when one is given (an error if the workspace refuses
        it), else as the workspace's local admin: the same rule as the CLI's. ``client`` is
        what the audit log records as the entry point (``sdk``, ``cli``)."""
        self.client_label = client
        self.workbench = Workbench(workspace)
        try:
            self.principal = self.workbench.acting(token)
        except BaseException:
            self.workbench.close()
            raise

    def whoami(self) -> dict[str, Any]:
        return self.principal.as_dict()

    def _sql_arrow(self, query: str, timeout: float | None) -> pyarrow.Table:
        with self.workbench.query.run(query, user=self.principal.name, timeout=timeout) as result:
            return result.to_arrow()

    def _lake_version(self) -> int | None:
        # A trusted connection: this lookup is not the user's query, so not in their history.
        warehouse = self.workbench.warehouse
        with warehouse.connect() as connection:
            row = connection.execute(
                "SELECT max(snapshot_id) FROM ducklake_snapshots(?)", [warehouse.alias]
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def tables(self, search: str | None = None) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in self.workbench.catalog.list(search)]

    def describe(self, name: str) -> dict[str, Any]:
        return self.workbench.catalog.describe(name).as_dict()

    def profile(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        return self.workbench.profiles.profile(name, version=version).as_dict()

    def _upload_file(
        self, path: Path, name: str, mode: Mode, options: dict[str, Any]
    ) -> dict[str, Any]:
        result = self.workbench.ingest.upload(
            path, name, mode=mode, options=options, by=self.principal.name
        )
        return result.as_dict()

    def _upload_arrow(self, table: pyarrow.Table, name: str, mode: Mode) -> dict[str, Any]:
        result = self.workbench.ingest.upload(table, name, mode=mode, by=self.principal.name)
        return result.as_dict()

    def sources(self) -> list[dict[str, Any]]:
        return [source.as_dict() for source in self.workbench.sources.list()]

    @cached_property
    def features(self) -> Features:
        from atelier.sdk.features import EmbeddedFeatures

        return EmbeddedFeatures(self.workbench, self.principal.name, self.principal)

    @cached_property
    def models(self) -> Models:
        from atelier.sdk.models import EmbeddedModels

        return EmbeddedModels(self.workbench, self.principal, self.client_label)

    @cached_property
    def apps(self) -> Apps:
        from atelier.sdk.apps import EmbeddedApps

        return EmbeddedApps(self.workbench, self.principal, self.client_label)

    @cached_property
    def jobs(self) -> Jobs:
        from atelier.sdk.jobs import EmbeddedJobs

        return EmbeddedJobs(self.workbench, self.principal)

    @cached_property
    def projects(self) -> Projects:
        from atelier.sdk.projects import EmbeddedProjects

        return EmbeddedProjects(self.workbench, self.principal, self.client_label)

    def close(self) -> None:
        self.workbench.close()

    def __repr__(self) -> str:
        return f"<EmbeddedClient {self.workbench.workspace.root}>"
