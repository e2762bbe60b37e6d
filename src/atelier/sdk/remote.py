"""The remote client: the same interface over HTTP, authenticated with a bearer token."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from atelier.contract import ARROW_STREAM
from atelier.errors import AtelierError
from atelier.sdk.arrow import fetch_arrow, http_error, to_ipc
from atelier.sdk.client import Client, Mode

if TYPE_CHECKING:
    import pyarrow

    from atelier.sdk.apps import Apps
    from atelier.sdk.features import Features
    from atelier.sdk.jobs import Jobs
    from atelier.sdk.models import Models
    from atelier.sdk.projects import Projects


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

    def tables(self, search: str | None = None) -> list[dict[str, Any]]:
        params = {"search": search} if search else None
        listed: list[dict[str, Any]] = self.request("GET", "/tables", params=params).json()
        return listed

    def describe(self, name: str) -> dict[str, Any]:
        detail: dict[str, Any] = self.request("GET", f"/tables/{quote(name)}").json()
        return detail

    def profile(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version is not None else None
        found: dict[str, Any] = self.request(
            "GET", f"/tables/{quote(name)}/profile", params=params
        ).json()
        return found

    def _upload_file(
        self, path: Path, name: str, mode: Mode, options: dict[str, Any]
    ) -> dict[str, Any]:
        with path.open("rb") as handle:
            response = self.request(
                "POST",
                "/uploads",
                data={"name": name, "mode": mode, "options": json.dumps(options)},
                files={"file": (path.name, handle)},
                timeout=None,
            )
        result: dict[str, Any] = response.json()
        return result

    def _upload_arrow(self, table: pyarrow.Table, name: str, mode: Mode) -> dict[str, Any]:
        response = self.request(
            "POST",
            "/uploads",
            params={"name": name, "mode": mode},
            content=to_ipc(table),
            headers={"Content-Type": ARROW_STREAM},
            timeout=None,
        )
        result: dict[str, Any] = response.json()
        return result

    def sources(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.request("GET", "/sources").json()
        return listed

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
