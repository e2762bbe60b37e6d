"""``atelier.connect``: pick the remote or the embedded client.

The server and who to act as come from, in order: the arguments; ``ATELIER_URL`` and
``ATELIER_TOKEN``; a named workspace (``workspace=``, ``ATELIER_WORKSPACE``); the stored login
of ``atelier login URL`` (:mod:`atelier.sdk.credentials`); the workspace of the current folder.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from atelier.contract import TOKEN_ENV, URL_ENV, WORKSPACE_ENV
from atelier.errors import AtelierError, AuthenticationFailed, WorkspaceNotFound
from atelier.sdk.client import Client

if TYPE_CHECKING:
    from atelier.sdk.credentials import Login

#: What the light client (``pip install atelier``) lacks to open a workspace itself.
SERVER_EXTRA = "pip install 'atelier[server]'"


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    workspace: str | None = None,
    client: str = "sdk",
) -> Client:
    """The remote client when a URL is given, ``ATELIER_URL`` is set (and no workspace is
    named) or ``atelier login`` stored one, else the embedded client on ``workspace``
    (default: the current folder or a parent). ``client`` names the entry point in the audit
    log of an embedded workspace."""
    from atelier.sdk import credentials

    url = url or os.environ.get(URL_ENV)
    token = token or os.environ.get(TOKEN_ENV)
    if url and not workspace:
        if not token:
            stored = credentials.load(url)
            if stored is None:
                raise AuthenticationFailed(
                    f"no token for {url}: run `atelier login {url}`, pass token= or set "
                    f"{TOKEN_ENV} (create one with `atelier tokens create`)"
                )
            token = stored.token
        return _remote(url, token)
    stored = _stored_login(workspace, token)
    if stored is not None:
        return _remote(stored.url, stored.token)
    return _embedded(workspace, token, client)


def works_on_workspace(workspace: str | None = None) -> bool:
    """Whether :func:`connect` given no URL or token opens the workspace itself (rather than
    reaching a server)."""
    if os.environ.get(URL_ENV) and not workspace:
        return False
    return _stored_login(workspace, os.environ.get(TOKEN_ENV)) is None


def _stored_login(workspace: str | None, token: str | None) -> Login | None:
    """The login of ``atelier login`` used when nothing names a workspace or a token."""
    from atelier.sdk import credentials

    if workspace or token or os.environ.get(WORKSPACE_ENV):
        return None
    return credentials.load()


def _remote(url: str, token: str) -> Client:
    from atelier.sdk.remote import RemoteClient

    return RemoteClient(url, token)


def _embedded(workspace: str | None, token: str | None, client: str) -> Client:
    from atelier.config import Workspace, find_workspace

    try:
        root = find_workspace(workspace)
    except WorkspaceNotFound as exc:
        if workspace:
            raise
        raise WorkspaceNotFound(
            f"{exc}; to use a server instead, run `atelier login URL` or set {URL_ENV}"
        ) from None
    try:
        from atelier.sdk.embedded import EmbeddedClient
    except ModuleNotFoundError as exc:
        raise AtelierError(
            f"working on the workspace {root} itself needs the server's packages "
            f"({exc.name} is missing): `{SERVER_EXTRA}`, or reach a server with "
            f"`atelier login URL`"
        ) from None
    # On a local workspace too, a token makes the client act as its user, not as the admin.
    return EmbeddedClient(Workspace.open(root), token, client=client)
