"""What a remote namespace (``ws.jobs``, ``ws.models``…) needs from the remote client: one
authenticated request to the API, and the server's address.

The namespaces are typed against this protocol rather than :class:`RemoteClient`, which creates
them, so that neither module imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx


class Transport(Protocol):
    url: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``/api/v1{path}``; an error status raises the matching AtelierError."""
        ...
