"""The gateway: internal services (JupyterLab, MLflow, hosted apps) behind Atelier's login.

:mod:`~atelier.server.gateway.proxy` forwards HTTP and WebSocket traffic to a service on a
Unix socket or loopback; :mod:`~atelier.server.gateway.guard` decides who may pass, and
:mod:`~atelier.server.gateway.route` checks it on the busiest route without FastAPI's
dependency solving.
"""

from atelier.server.gateway.guard import GatewayGuard, allow_gateway, same_origin
from atelier.server.gateway.proxy import (
    Upstream,
    canonical_path,
    proxy_http,
    proxy_websocket,
    sandboxed,
)

__all__ = [
    "GatewayGuard",
    "Upstream",
    "allow_gateway",
    "canonical_path",
    "proxy_http",
    "proxy_websocket",
    "same_origin",
    "sandboxed",
]
