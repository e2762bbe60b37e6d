"""The remote client: the same interface over HTTP, authenticated with a bearer token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from atelier.contract import ARROW_STREAM
from atelier.contract.data import TableDetail, TableEntry, TableProfile, UploadResult
from atelier.contract.sources import SourceInfo, SourceTable
from atelier.errors import AtelierError
from atelier.sdk.arrow import download, fetch_arrow, http_error, stream_arrow, to_ipc
from atelier.sdk.client import Client, Mode, Progress
from atelier.sdk.shapes import shaped

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


class RemoteClient(Client):
    def __init__(self, url: str, token: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TransportError as exc:
            raise AtelierError(f"cannot reach Atelier at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise http_error(response)
        return response

    def whoami(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/me").json()
        return data

    def _sql_arrow(self, query: str, timeout: float | None) -> pyarrow.Table:
        return fetch_arrow(self._http, query, timeout)

    @contextmanager
    def sql_batches(
        self, query: str, *, timeout: float | None = None
    ) -> Iterator[pyarrow.RecordBatchReader]:
        with stream_arrow(self._http, query, timeout) as reader:
            yield reader

    def _download(
        self, query: str, fmt: str, sink: IO[bytes], timeout: float | None
    ) -> tuple[int, int | None]:
        query_id = download(self._http, query, fmt, sink, timeout)
        info = self.request("GET", f"/sql/{query_id}").json()
        rows = info.get("rows")
        return query_id, None if rows is None else int(rows)

    def tables(self, search: str | None = None) -> list[dict[str, Any]]:
        params = {"search": search} if search else None
        listed: list[dict[str, Any]] = shaped(
            TableEntry, self.request("GET", "/tables", params=params).json()
        )
        return listed

    def describe(self, name: str) -> dict[str, Any]:
        detail: dict[str, Any] = shaped(
            TableDetail, self.request("GET", f"/tables/{quote(name)}").json()
        )
        return detail

    def profile(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version is not None else None
        found: dict[str, Any] = shaped(
            TableProfile,
            self.request("GET", f"/tables/{quote(name)}/profile", params=params).json(),
        )
        return found

    def update_table(
        self, name: str, *, description: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        given = {"description": description, "tags": tags}
        body = {k: v for k, v in given.items() if v is not None}
        entry: dict[str, Any] = shaped(
            TableEntry, self.request("PATCH", f"/tables/{quote(name, safe='')}", json=body).json()
        )
        return entry

    def _upload_file(
        self,
        path: Path,
        name: str,
        mode: Mode,
        options: dict[str, Any],
        progress: Progress | None = None,
        schema: str | None = None,
    ) -> dict[str, Any]:
        from atelier.sdk.multipart import MultipartBody

        fields = {"name": name, "mode": mode, "options": json.dumps(options)}
        if schema:
            fields["schema"] = schema
        body = MultipartBody(path, fields)
        total = max(body.file_size, 1)
        done = 0

        def sent(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress("sending", min(100.0, 100.0 * done / total))
                if done >= body.file_size:
                    progress("loading", None)

        if progress is not None:
            progress("sending", 0.0)
        # Streamed from a generator: the file is read as it is sent, never whole in memory.
        response = self.request(
            "POST",
            "/uploads",
            content=body.chunks(sent),
            headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
            # Loading a large file takes a while after the last byte is sent.
            timeout=httpx.Timeout(60.0, read=None),
        )
        result: dict[str, Any] = shaped(UploadResult, response.json())
        return result

    def _upload_arrow(
        self, table: pyarrow.Table, name: str, mode: Mode, schema: str | None = None
    ) -> dict[str, Any]:
        params = {"name": name, "mode": mode} | ({"schema": schema} if schema else {})
        response = self.request(
            "POST",
            "/uploads",
            params=params,
            content=to_ipc(table),
            headers={"Content-Type": ARROW_STREAM},
            timeout=None,
        )
        result: dict[str, Any] = shaped(UploadResult, response.json())
        return result

    def sources(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = shaped(SourceInfo, self.request("GET", "/sources").json())
        return listed

    def source(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = shaped(
            SourceInfo, self.request("GET", f"/sources/{quote(name, safe='')}").json()
        )
        return found

    def source_tables(self, name: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = shaped(
            SourceTable, self.request("GET", f"/sources/{quote(name, safe='')}/tables").json()
        )
        return listed

    def add_source(
        self,
        name: str,
        type: str,
        *,
        options: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "type": type,
            "options": options or {},
            "secrets": secrets or {},
            "description": description,
        }
        added: dict[str, Any] = shaped(
            SourceInfo, self.request("POST", "/sources", json=body, timeout=None).json()
        )
        return added

    def remove_source(self, name: str) -> None:
        self.request("DELETE", f"/sources/{quote(name, safe='')}")

    @cached_property
    def features(self) -> Features:
        from atelier.sdk.features import RemoteFeatures

        return RemoteFeatures(self)

    @cached_property
    def models(self) -> Models:
        from atelier.sdk.models import RemoteModels

        token = self._http.headers["Authorization"].removeprefix("Bearer ")
        return RemoteModels(self, token)

    @cached_property
    def pii(self) -> Pii:
        from atelier.sdk.pii import RemotePii

        return RemotePii(self)

    @cached_property
    def accounts(self) -> Accounts:
        from atelier.sdk.accounts import RemoteAccounts

        return RemoteAccounts(self)

    @cached_property
    def saved_queries(self) -> SavedQueries:
        from atelier.sdk.saved_queries import RemoteSavedQueries

        return RemoteSavedQueries(self)

    @cached_property
    def pii_grants(self) -> PiiGrants:
        from atelier.sdk.pii_grants import RemotePiiGrants

        return RemotePiiGrants(self)

    @cached_property
    def apps(self) -> Apps:
        from atelier.sdk.apps import RemoteApps

        return RemoteApps(self)

    @cached_property
    def jobs(self) -> Jobs:
        from atelier.sdk.jobs import RemoteJobs

        return RemoteJobs(self)

    @cached_property
    def projects(self) -> Projects:
        from atelier.sdk.projects import RemoteProjects

        return RemoteProjects(self)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"<RemoteClient {self.url}>"
