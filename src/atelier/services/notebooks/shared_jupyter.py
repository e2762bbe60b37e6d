"""Loaded inside a project's shared JupyterLab (not by Atelier itself): who is asking, and as
whom a kernel runs.

The gateway is the only client of the server's socket. On every request it sends the server's
secret, the Atelier user it authenticated (``X-Atelier-User``, a header it removes from what
callers send) and, when the request may start a kernel, a token for code acting for that user
(``X-Atelier-Kernel-Token``). The identity provider turns the header into Jupyter's user, whose
name real-time collaboration shows beside cursors; the kernel manager gives a new kernel the
token of the user who started it, never a token of the server or of another member.
"""

from __future__ import annotations

import contextvars
import os
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web

USER_HEADER = "X-Atelier-User"
TOKEN_HEADER = "X-Atelier-Kernel-Token"
#: Who Atelier's own calls are (never a user's name: they hold no "@" or space).
SERVER = "atelier server"
#: The token the current request brought for a kernel it may start.
_KERNEL_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "atelier_kernel_token", default=None
)
#: Colours of collaborators' cursors, chosen by name so that each keeps theirs.
COLOURS = (
    "var(--jp-collaborator-color1)",
    "var(--jp-collaborator-color2)",
    "var(--jp-collaborator-color3)",
    "var(--jp-collaborator-color4)",
    "var(--jp-collaborator-color5)",
    "var(--jp-collaborator-color6)",
    "var(--jp-collaborator-color7)",
)


class GatewayIdentityProvider(IdentityProvider):
    """The server's secret token proves the request came through the gateway; the header
    names the Atelier user it authenticated."""

    async def _get_user(self, handler: web.RequestHandler) -> User | None:
        token_user = await self.get_user_token(handler)
        if token_user is None:
            return None
        # Atelier's own calls (is it up, is it idle) name nobody.
        name = handler.request.headers.get(USER_HEADER, "") or SERVER
        _KERNEL_TOKEN.set(handler.request.headers.get(TOKEN_HEADER) or None)
        colour = COLOURS[sum(name.encode()) % len(COLOURS)]
        return User(
            username=name, name=name, display_name=name, initials=name[:2].upper(), color=colour
        )


class UserKernelManager(AsyncMappingKernelManager):
    """A new kernel acts for the user who started it: Atelier's and MLflow's token in its
    environment are that user's, brought by the gateway with the request."""

    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, path: Any = None, **kwargs: Any
    ) -> str:
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        token = _KERNEL_TOKEN.get()
        if not token:
            raise web.HTTPError(403, "kernels of a shared server start through Atelier only")
        env = {**os.environ, **(kwargs.pop("env", None) or {})}
        env.update(ATELIER_TOKEN=token, MLFLOW_TRACKING_TOKEN=token)
        return await super().start_kernel(kernel_id=kernel_id, path=path, env=env, **kwargs)
