"""The Python SDK: one interface, two clients.

``atelier.connect()`` gives a :class:`RemoteClient` (HTTP to a server) when ``ATELIER_URL`` or a
URL is given, else an :class:`EmbeddedClient` working on the local workspace in-process.
"""

from atelier.sdk.client import Client
from atelier.sdk.connect import connect

__all__ = ["Client", "connect"]
