"""``atelier.connect``: pick the remote or the embedded client."""

from __future__ import annotations

import os

from atelier.config import Workspace, find_workspace
from atelier.errors import AuthenticationFailed
from atelier.sdk.client import Client


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    workspace: str | None = None,
    client: str = "sdk",
) -> Client:
    """The remote client when a URL is given or ``ATELIER_URL`` is set (and no workspace is
    named), else the embedded client on ``workspace`` (default: the current folder or a parent).
    ``client`` names the entry point in the audit log of an embedded workspace."""
    url = url or os.environ.get("ATELIER_URL")
    token = token or os.environ.get("ATELIER_TOKEN")
    if url and not workspace:
        from atelier.sdk.remote import RemoteClient

        if not token:
            raise AuthenticationFailed(
                f"no token for {url}: pass token= or set ATELIER_TOKEN "
                "(create one with `atelier tokens create`)"
            )
        return RemoteClient(url, token)
    from atelier.sdk.embedded import EmbeddedClient

    # On a local workspace too, a token makes the client act as its user, not as the admin.
    return EmbeddedClient(Workspace.open(find_workspace(workspace)), token, client=client)
