"""Atelier: a self-hosted workbench for data scientists.

The public API is small on purpose::

    import atelier
    ws = atelier.connect()      # remote with ATELIER_URL/ATELIER_TOKEN, else the local workspace
    ws.whoami()

Everything heavy is imported lazily, so ``import atelier`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AtelierError", "__version__", "compare", "connect", "evaluate"]

if TYPE_CHECKING:
    from atelier.errors import AtelierError
    from atelier.sdk.client import Client
    from atelier.services.tracking.compare import compare
    from atelier.services.tracking.evaluate import evaluate


def connect(
    url: str | None = None, token: str | None = None, *, workspace: str | None = None
) -> Client:
    """Open a client: remote over HTTP when a URL is given or ``ATELIER_URL`` is set, embedded
    on a named workspace (``workspace=``, ``ATELIER_WORKSPACE``), else remote on the server of
    ``atelier login URL``, else embedded on the workspace of the current folder."""
    from atelier.sdk.connect import connect as _connect

    return _connect(url=url, token=token, workspace=workspace)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext atelier``: the ``%%sql`` and ``%atelier_env`` magics (see atelier.ipython)."""
    from atelier.ipython import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    if name == "AtelierError":
        from atelier.errors import AtelierError

        return AtelierError
    if name == "evaluate":  # atelier.evaluate(model, data, target=..., task=...)
        from atelier.services.tracking.evaluate import evaluate

        return evaluate
    if name == "compare":  # atelier.compare(candidates={...}, data=..., target=...)
        from atelier.services.tracking.compare import compare

        return compare
    raise AttributeError(name)
