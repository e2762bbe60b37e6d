"""Signing a laptop in and out: ``atelier login URL``, ``atelier whoami``, ``atelier logout``.

``login`` asks the server for a one-time code, opens the portal's confirmation page (or prints
it), and once a signed-in person confirms the code there it stores the personal token it
receives in the user's config (:mod:`atelier.sdk.credentials`, owner-only). Later commands
reach that server without ATELIER_URL or ATELIER_TOKEN.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

import click

from atelier.cli.options import workspace_option


def _default_name() -> str:
    import getpass
    import socket

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "someone"
    return f"{who}@{socket.gethostname()}"[:64]


def _server(url: str | None) -> str:
    from atelier.contract import URL_ENV
    from atelier.sdk import credentials

    chosen = url or os.environ.get(URL_ENV)
    if not chosen:
        stored = credentials.load()
        if stored is None:
            raise click.UsageError("which server? give its URL, e.g. https://atelier.example.com")
        chosen = stored.url
    return credentials.normalize_url(chosen)


def _http(url: str, token: str | None = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30.0)


def _call(http: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One API call; transport failures and refusals as the SDK's errors."""
    import httpx

    from atelier.contract import API_PREFIX
    from atelier.errors import AtelierError
    from atelier.sdk.arrow import http_error

    try:
        response = http.request(method, API_PREFIX + path, **kwargs)
    except httpx.TransportError as exc:
        raise AtelierError(f"cannot reach Atelier at {http.base_url}: {exc}") from None
    if response.status_code >= 400:
        raise http_error(response)
    return response


def _device_token(http: Any, url: str, name: str, browser: bool) -> dict[str, Any]:
    from atelier.contract.auth import DEVICE_CODE_PATH, DEVICE_TOKEN_PATH, DeviceCode
    from atelier.errors import AtelierError

    started = DeviceCode(**_call(http, "POST", DEVICE_CODE_PATH, json={"name": name}).json())
    click.echo(
        f"To sign in {name}, open {started.verification_url} signed in to the portal and "
        f"confirm the code\n\n    {started.user_code}\n\n"
        f"(or open {started.verification_url_complete}); waiting up to "
        f"{started.expires_in // 60} minutes...",
        err=True,
    )
    sys.stderr.flush()
    if browser:
        import webbrowser

        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(started.verification_url_complete)
    deadline = time.monotonic() + started.expires_in + 5
    interval = max(1, started.interval)
    while time.monotonic() < deadline:
        time.sleep(interval)
        try:
            response = _call(
                http, "POST", DEVICE_TOKEN_PATH, json={"device_code": started.device_code}
            )
        except AtelierError as exc:
            if exc.status_code != 429:  # 429: polling too fast, or the address is locked
                raise
            interval += 1
            continue
        if response.status_code == 200:
            found: dict[str, Any] = response.json()
            return found
    raise AtelierError(f"the code {started.user_code} was not confirmed in time: try again")


@click.command()
@click.argument("url", required=False)
@click.option("--name", help="What the token is named after [default: you@this host].")
@click.option("--no-browser", is_flag=True, help="Print the confirmation page, do not open it.")
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Store a token read from standard input (made with `atelier tokens create`) instead.",
)
def login(url: str | None, name: str | None, no_browser: bool, token_stdin: bool) -> None:
    """Sign in to the Atelier server at URL and remember it for later commands.

    Prints a one-time code and opens the portal, where you confirm it while signed in; the
    personal token the server then gives is stored in your config, readable by you only."""
    from atelier.sdk import credentials

    server = _server(url)
    with _http(server) as http:
        if token_stdin:
            token = sys.stdin.readline().strip()
            if not token:
                raise click.UsageError("--token-stdin given but standard input was empty")
            with _http(server, token) as authed:
                me = _call(authed, "GET", "/me").json()
            key = token.split("_")[1] if token.count("_") >= 2 else ""
            granted = {"token": token, "user": me["name"], "role": me["role"], "key": key}
        else:
            granted = _device_token(http, server, name or _default_name(), not no_browser)
    previous = credentials.load(server)
    path = credentials.save(
        credentials.Login(server, granted["token"], granted["user"], granted["key"])
    )
    if previous is not None and previous.token != granted["token"]:
        _sign_out(server, previous.token, quiet=True)
    click.echo(f"Logged in to {server} as {granted['user']} ({granted['role']}); token in {path}")


def _sign_out(server: str, token: str, *, quiet: bool = False) -> bool:
    """Revoke ``token`` on the server; False (with a warning) when that failed."""
    from urllib.parse import quote

    from atelier.errors import AtelierError, AuthenticationFailed

    key = token.split("_")[1] if token.count("_") >= 2 else ""
    try:
        with _http(server, token) as http:
            _call(http, "DELETE", f"/me/tokens/{quote(key)}")
    except AuthenticationFailed:
        return True  # already revoked or expired: nothing left to sign out
    except AtelierError as exc:
        if not quiet:
            click.echo(f"warning: the token was not revoked on {server}: {exc}", err=True)
        return False
    return True


@click.command()
@click.argument("url", required=False)
@click.option("--all", "everything", is_flag=True, help="Every server you are logged in to.")
def logout(url: str | None, everything: bool) -> None:
    """Sign out of the server at URL (default: the one you logged in to last): its token is
    revoked on the server and removed from your config."""
    from atelier.sdk import credentials

    targets = [login.url for login in credentials.logins()] if everything else [_server(url)]
    if not targets:
        click.echo("not logged in anywhere")
        return
    for server in targets:
        stored = credentials.forget(server)
        if stored is None:
            click.echo(f"not logged in to {server}")
            continue
        revoked = _sign_out(server, stored.token)
        click.echo(f"Logged out of {server}{'' if revoked else ' (token left active)'}")


@click.command()
@workspace_option
def whoami(workspace: str | None) -> None:
    """Show who you are and where: ATELIER_URL/ATELIER_TOKEN, else your stored login, else the
    local workspace."""
    from atelier.sdk.connect import connect

    with connect(workspace=workspace, client="cli") as client:
        me = client.whoami()
        where = getattr(client, "url", None)
    at = f" at {where}" if where else ""
    click.echo(f"{me['name']} ({me['role']}, via {me['via']}){at}")


def register(group: click.Group) -> None:
    for command in (login, logout, whoami):
        group.add_command(command)
