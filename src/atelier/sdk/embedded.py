"""The embedded client: services called in-process on a local workspace (no server needed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atelier.config import Workspace
from atelier.contract.data import TableDetail, TableEntry, TableProfile, UploadResult
from atelier.contract.sources import SourceInfo, SourceTable
from atelier.sdk.client import Client, Mode, Progress
from atelier.sdk.shapes import shaped
from atelier.services.workbench import Workbench

if TYPE_CHECKING:
    import pyarrow

    from atelier.sdk.accounts import Accounts
    from atelier.sdk.apps import Apps
    from atelier.sdk.features import Features
    from atelier.sdk.jobs import Jobs
    from atelier.sdk.models import Models
    from atelier.sdk.pii import Pii
    from atelier.sdk.pii_grants import PiiGrants
    from atelier.sdk.projects import Projects
    from atelier.sdk.saved_queries import SavedQueries


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
        with self.workbench.query.run(
            query,
            principal=self.principal,
            timeout=timeout,
            remote=False,
            client=self.client_label,
        ) as result:
            return result.to_arrow()

    @contextmanager
    def sql_batches(
        self, query: str, *, timeout: float | None = None
    ) -> Iterator[pyarrow.RecordBatchReader]:
        with self.workbench.query.run(
            query,
            principal=self.principal,
            timeout=timeout,
            remote=False,
            client=self.client_label,
        ) as result:
            yield result.reader()

    def _download(
        self, query: str, fmt: str, sink: IO[bytes], timeout: float | None
    ) -> tuple[int, int | None]:
        from atelier.services.query.download import start_download

        # Written on the workspace's own machine: masked as the person's embedded SQL is.
        started = start_download(
            self.workbench.query,
            self.workbench.audit,
            query,
            fmt,
            principal=self.principal,
            remote=False,
            timeout=timeout,
            client=self.client_label,
        )
        try:
            for chunk in started.chunks():
                sink.write(chunk)
        finally:
            started.close()
        return started.result.query_id, started.result.rows

    def _lake_version(self) -> int | None:
        # A trusted connection: this lookup is not the user's query, so not in their history.
        warehouse = self.workbench.warehouse
        with warehouse.connect() as connection:
            row = connection.execute(
                "SELECT max(snapshot_id) FROM ducklake_snapshots(?)", [warehouse.alias]
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def tables(self, search: str | None = None) -> list[dict[str, Any]]:
        entries = [entry.as_dict() for entry in self._data().catalog.list(search)]
        result: list[dict[str, Any]] = shaped(TableEntry, entries)
        return result

    def describe(self, name: str) -> dict[str, Any]:
        detail: dict[str, Any] = shaped(
            TableDetail,
            self._data().catalog.describe(name, principal=self.principal, remote=False).as_dict(),
        )
        return detail

    def profile(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        found = (
            self._data()
            .profiles.profile(name, version=version, principal=self.principal, remote=False)
            .as_dict()
        )
        result: dict[str, Any] = shaped(TableProfile, found)
        return result

    def update_table(
        self, name: str, *, description: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        entry = self.workbench.catalog.update(
            name,
            description=description,
            tags=tags,
            principal=self.principal,
            client=self.client_label,
        )
        result: dict[str, Any] = shaped(TableEntry, entry.as_dict())
        return result

    def _upload_file(
        self,
        path: Path,
        name: str,
        mode: Mode,
        options: dict[str, Any],
        progress: Progress | None = None,
        schema: str | None = None,
    ) -> dict[str, Any]:
        result = self.workbench.ingest.upload(
            path,
            name,
            mode=mode,
            options=options,
            progress=progress,
            principal=self.principal,
            client=self.client_label,
            schema=schema,
        )
        uploaded: dict[str, Any] = shaped(UploadResult, result.as_dict())
        return uploaded

    def _upload_arrow(
        self, table: pyarrow.Table, name: str, mode: Mode, schema: str | None = None
    ) -> dict[str, Any]:
        result = self.workbench.ingest.upload(
            table,
            name,
            mode=mode,
            principal=self.principal,
            client=self.client_label,
            schema=schema,
        )
        uploaded: dict[str, Any] = shaped(UploadResult, result.as_dict())
        return uploaded

    def sources(self) -> list[dict[str, Any]]:
        self._may_see_sources()
        listed: list[dict[str, Any]] = shaped(
            SourceInfo, [source.as_dict() for source in self.workbench.sources.list()]
        )
        return listed

    def source(self, name: str) -> dict[str, Any]:
        self._may_see_sources()
        found: dict[str, Any] = shaped(SourceInfo, self.workbench.sources.get(name).as_dict())
        return found

    def source_tables(self, name: str) -> list[dict[str, Any]]:
        self._may_see_sources()
        tables = [table.as_dict() for table in self.workbench.sources.tables(name)]
        listed: list[dict[str, Any]] = shaped(SourceTable, tables)
        return listed

    def _may_see_sources(self) -> None:
        from atelier.services.catalog.access import BUILDERS, check

        check(self.principal, BUILDERS, "list sources", ("data",))

    def _data(self) -> Workbench:
        """The workspace's services, once the acting user may read its tables (as the API
        allows: scientists and admins, code tokens with ``data:read``)."""
        from atelier.services.catalog.access import BUILDERS, check

        check(self.principal, BUILDERS, "read tables", ("data:read",))
        return self.workbench

    def add_source(
        self,
        name: str,
        type: str,
        *,
        options: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        info = self.workbench.sources.add(
            name,
            type,
            options=options or {},
            secrets=secrets or {},
            description=description,
            principal=self.principal,
            client=self.client_label,
        )
        added: dict[str, Any] = shaped(SourceInfo, info.as_dict())
        return added

    def remove_source(self, name: str) -> None:
        self.workbench.sources.remove(name, principal=self.principal, client=self.client_label)

    @cached_property
    def features(self) -> Features:
        from atelier.sdk.features import EmbeddedFeatures

        return EmbeddedFeatures(
            self.workbench, self.principal.name, self.principal, client=self.client_label
        )

    @cached_property
    def models(self) -> Models:
        from atelier.sdk.models import EmbeddedModels

        return EmbeddedModels(self.workbench, self.principal, self.client_label)

    @cached_property
    def pii(self) -> Pii:
        from atelier.sdk.pii import EmbeddedPii

        return EmbeddedPii(self.workbench, self.principal, self.client_label)

    @cached_property
    def accounts(self) -> Accounts:
        from atelier.sdk.accounts import EmbeddedAccounts

        return EmbeddedAccounts(self.workbench, self.principal, self.client_label)

    @cached_property
    def saved_queries(self) -> SavedQueries:
        from atelier.sdk.saved_queries import EmbeddedSavedQueries

        return EmbeddedSavedQueries(self.workbench, self.principal)

    @cached_property
    def pii_grants(self) -> PiiGrants:
        from atelier.sdk.pii_grants import EmbeddedPiiGrants

        return EmbeddedPiiGrants(self.workbench, self.principal, self.client_label)

    @cached_property
    def apps(self) -> Apps:
        from atelier.sdk.apps import EmbeddedApps

        return EmbeddedApps(self.workbench, self.principal, self.client_label)

    @cached_property
    def jobs(self) -> Jobs:
        from atelier.sdk.jobs import EmbeddedJobs

        return EmbeddedJobs(self.workbench, self.principal, self.client_label)

    @cached_property
    def projects(self) -> Projects:
        from atelier.sdk.projects import EmbeddedProjects

        return EmbeddedProjects(self.workbench, self.principal, self.client_label)

    def close(self) -> None:
        self.workbench.close()

    def __repr__(self) -> str:
        return f"<EmbeddedClient {self.workbench.workspace.root}>"
