"""The remote client: the same interface over HTTP, authenticated with a bearer token."""

from __future__ import annotations

from typing import Any

import httpx

from atelier.errors import (
    AtelierError,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from atelier.sdk.client import Client

_ERRORS: dict[int, type[AtelierError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


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
            raise _error(response)
        return response

    def whoami(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/me").json()
        return data

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"<RemoteClient {self.url}>"


def _error(response: httpx.Response) -> AtelierError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    kind = _ERRORS.get(response.status_code, AtelierError)
    return kind(f"{detail} (HTTP {response.status_code})")
