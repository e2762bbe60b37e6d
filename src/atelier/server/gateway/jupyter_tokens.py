"""Jupyter's own ways of sending a token, accepted under ``/notebooks/`` and ``/collab/``.

Jupyter clients that connect to a remote server (VS Code, PyCharm, ``@jupyterlab/services``,
Jupyter's gateway client) authenticate with ``Authorization: token TOKEN`` on REST requests
and, for WebSockets, often with ``?token=TOKEN`` in the URL. On paths under ``/notebooks/``
only, :class:`JupyterTokens` turns either spelling into the ``Authorization: Bearer TOKEN``
that :class:`~atelier.server.security.AuthMiddleware` checks, so an Atelier personal token
works there exactly as it does on the API (same throttling, audit, roles and scopes).

It also takes ``token`` out of the query string of every request under ``/notebooks/``, used
or not: forwarded, JupyterLab would take it for a wrong guess at its own secret (it reads the
query before the header that the gateway sets), and the access log would show it.

A signed-in browser's session wins over both spellings: with an Atelier session cookie, a
``?token=`` is ignored (a link that names someone else's token cannot move a signed-in browser
into that person's JupyterLab) and so is ``Authorization: token …``. JupyterLab's own frontend
sends that header on every REST request, with the secret of the user's Jupyter server that it
reads from its page; taken for an Atelier token, it would be refused and the browser's
JupyterLab could list no kernels, sessions or contents. The gateway replaces the header with
the server's secret anyway.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from atelier.server.security import SESSION_COOKIE

#: Where Jupyter's spellings are accepted: the notebook gateway's routes (users' own
#: JupyterLab, and projects' shared ones).
PREFIXES = ("/notebooks", "/collab")
#: Jupyter's name for the token, in the query string and as the ``Authorization`` scheme.
TOKEN = "token"


def under_notebooks(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PREFIXES)


def split_token(query: bytes) -> tuple[bytes, str]:
    """``query`` without its ``token`` parameters (the others kept byte for byte), and the
    first token's value ("" when there is none)."""
    kept: list[bytes] = []
    token = ""
    found = False
    for part in query.split(b"&"):
        name = unquote_plus(part.split(b"=", 1)[0].decode("latin-1"))
        if name != TOKEN:
            kept.append(part)
            continue
        if not found:
            found = True
            token = unquote_plus(part.partition(b"=")[2].decode("latin-1"))
    return b"&".join(p for p in kept if p), token


def _has_session(headers: list[tuple[bytes, bytes]]) -> bool:
    prefix = SESSION_COOKIE.encode() + b"="
    for name, value in headers:
        if name.lower() == b"cookie" and any(
            part.strip().startswith(prefix) for part in value.split(b";")
        ):
            return True
    return False


class JupyterTokens:
    """Installed outside :class:`~atelier.server.security.AuthMiddleware`; changes the ASGI
    scope in place, so the server's access log sees the query without the token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and under_notebooks(scope["path"]):
            self.rewrite(scope)
        await self.app(scope, receive, send)

    @staticmethod
    def rewrite(scope: Scope) -> None:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        session = _has_session(headers)
        authorized = False
        for index, (name, value) in enumerate(headers):
            if name.lower() != b"authorization":
                continue
            authorized = True
            scheme, _, credential = value.partition(b" ")
            # Left as it is beside a session: AuthMiddleware reads only "Bearer", so the
            # session cookie decides who calls.
            if scheme.lower() == TOKEN.encode() and credential.strip() and not session:
                headers[index] = (name, b"Bearer " + credential.strip())
        query, token = split_token(scope.get("query_string", b""))
        if token and not authorized and not session:
            headers.append((b"authorization", b"Bearer " + token.encode("latin-1", "replace")))
        scope["headers"] = headers
        scope["query_string"] = query
