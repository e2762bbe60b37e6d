"""Run the server with uvicorn; SIGINT/SIGTERM stop it gracefully (uvicorn's handlers).

One process serves two origins: the portal (``server.port``) and hosted apps
(``server.apps_port``, see :mod:`atelier.server.apps_origin`).

Several such processes (on one machine or several) may serve one workspace behind one
address: each announces itself with a lease ``server:ID`` and renews its leases in the
background (:mod:`atelier.services.leases`); the same thread looks for jobs to start or to
take over, so that a server that died leaves nothing unwatched (docs/team-server.md).
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError
from atelier.server.local_runs import LocalRuns
from atelier.services.workbench import Workbench

if TYPE_CHECKING:
    from atelier.services.leases import LeaseKeeper


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
    local_runs = LocalRuns(workbench)
    closed = False

    def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            local_runs.stop()
            workbench.close()  # stops the processes started for this server (MLflow, apps)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            # Before uvicorn re-raises SIGTERM, which ends this process at once.
            close()

    start_companions(workbench)
    local_runs.start()  # `atelier run` on this machine hands its jobs to this process
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
    from atelier.services.leases import SERVER_LEASE, process_gone
    from atelier.services.tracking.server import mlflow_installed

    keeper = join_servers(workbench)
    if mlflow_installed() and workbench.settings.tracking.start_on_up:
        workbench.tracking_server.start_in_background()
    # The hosted Streamlit/Dash apps that are not paused; the other servers' app tokens stay.
    others = [s for s in keeper.leases.live(SERVER_LEASE) if s.holder != keeper.holder]
    alone = all(process_gone(s.holder) for s in others)  # a crashed server here is gone
    workbench.apps.start_running(alone=alone)


def join_servers(workbench: Workbench) -> LeaseKeeper:
    """Announce this server to the others of the workspace and keep its leases renewed;
    each round also looks for jobs whose supervisor or server died (to take them over)."""
    from atelier.services.leases import SERVER_LEASE

    keeper = workbench.leases.start()
    keeper.take(SERVER_LEASE + keeper.holder)
    keeper.every_round.append(workbench.jobs.queue.reconcile)
    print(f"Server {keeper.holder} (several servers may share this workspace)", flush=True)
    return keeper
