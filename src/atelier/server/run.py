"""Run the server with uvicorn; SIGINT/SIGTERM stop it gracefully (uvicorn's handlers).

One process serves two origins: the portal (``server.port``) and hosted apps
(``server.apps_port``, see :mod:`atelier.server.apps_origin`).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from atelier.errors import AtelierError
from atelier.services.workbench import Workbench


def check_port_free(host: str, port: int, setting: str = "--port") -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AtelierError(
                f"cannot listen on {host}:{port}: {exc.strerror}; "
                f"stop what uses it or choose another port with {setting}"
            ) from None


def serve(workbench: Workbench, host: str, port: int) -> None:
    """The portal on ``port`` and the apps origin (hosted apps) on ``server.apps_port``, both
    in this process: one uvicorn server listening on two sockets."""
    import uvicorn

    from atelier.server.app import create_app
    from atelier.server.apps_origin import apps_origin, by_port, create_apps_app

    origin = apps_origin(workbench)
    check_port_free(host, port)
    check_port_free(host, origin.port, setting="server.apps_port")
    app = by_port(create_app(workbench), create_apps_app(workbench), origin.port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    where = origin.app_url("NAME") + "/apps/NAME/" if origin.domain else origin.base_url
    print(f"Hosted apps are served from another origin: {where}", flush=True)
    sockets = [config.bind_socket(), _config_for(config, origin.port).bind_socket()]
    closed = False

    def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            workbench.close()  # stops the processes started for this server (MLflow, apps)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            # Before uvicorn re-raises SIGTERM, which ends this process at once.
            close()

    start_companions(workbench)
    try:
        # uvicorn re-raises Ctrl-C after its graceful shutdown; that is a normal stop.
        with contextlib.suppress(KeyboardInterrupt):
            Server(config).run(sockets=sockets)
    finally:
        close()
        for sock in sockets:
            sock.close()


def _config_for(config: Any, port: int) -> Any:
    """A copy of ``config`` for another port, only to bind (and announce) that socket."""
    import uvicorn

    return uvicorn.Config(config.app, host=config.host, port=port, log_level="info")


def start_companions(workbench: Workbench) -> None:
    """Start, in the background, the internal services the portal proxies to, so the first
    visit does not wait for them (they also start on first use)."""
    from atelier.services.tracking.server import mlflow_installed

    if mlflow_installed() and workbench.settings.tracking.start_on_up:
        workbench.tracking_server.start_in_background()
    workbench.apps.start_running()  # the hosted Streamlit/Dash apps that are not paused
