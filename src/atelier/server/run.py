"""Run the server with uvicorn; SIGINT/SIGTERM stop it gracefully (uvicorn's handlers)."""

from __future__ import annotations

import contextlib
import socket

from atelier.errors import AtelierError
from atelier.services.workbench import Workbench


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AtelierError(
                f"cannot listen on {host}:{port}: {exc.strerror}; "
                "stop what uses it or choose another port with --port"
            ) from None


def serve(workbench: Workbench, host: str, port: int) -> None:
    import uvicorn

    from atelier.server.app import create_app

    check_port_free(host, port)
    config = uvicorn.Config(
        create_app(workbench),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
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
            Server(config).run()
    finally:
        close()


def start_companions(workbench: Workbench) -> None:
    """Start, in the background, the internal services the portal proxies to, so the first
    visit does not wait for them (they also start on first use)."""
    from atelier.services.tracking.server import mlflow_installed

    if mlflow_installed() and workbench.settings.tracking.start_on_up:
        workbench.tracking_server.start_in_background()
    workbench.apps.start_running()  # the hosted Streamlit/Dash apps that are not paused
