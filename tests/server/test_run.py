"""``atelier up`` as a real process: link login, health, graceful shutdown on SIGTERM/SIGINT."""

import signal

import httpx
import pytest

from tests.conftest import start_server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_a_working_link_and_stops_gracefully(workspace, workbench, sig) -> None:  # type: ignore[no-untyped-def]
    server = start_server(workspace)
    try:
        assert server.login_link is not None and server.login_link.startswith(server.url)
        with httpx.Client() as browser:
            landed = browser.get(
                server.login_link, follow_redirects=True, headers={"Accept": "text/html"}
            )
            assert landed.status_code == 200 and "Welcome," in landed.text
            assert browser.get(f"{server.url}/api/v1/me").json()["via"] == "session"
    finally:
        server.process.send_signal(sig)
        code = server.process.wait(timeout=30)
        server.stop()
    # uvicorn finishes the shutdown, then re-raises the signal so the exit status tells why.
    assert code in (0, -sig)
    log = "".join(server.output)
    assert "Shutting down" in log and "Finished server process" in log


def test_up_demo_loads_the_demo_bank(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from atelier.config import Workspace, init_workspace
    from atelier.services.workbench import Workbench

    root, _ = init_workspace(tmp_path / "demo")
    workspace = Workspace.open(root, environ={})
    server = start_server(workspace, "--demo", "--scale", "0.01")
    try:
        wb = Workbench(workspace)
        _, token = wb.tokens.create(wb.owner().name, "test", 1)
        wb.close()
        tables = httpx.get(
            f"{server.url}/api/v1/tables",
            params={"search": "bank"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert "bank.customers" in {t["name"] for t in tables}
        apps = httpx.get(
            f"{server.url}/api/v1/apps", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [(a["name"], a["model"], a["shared_with_all"]) for a in apps] == [
            ("churn", "churn@champion", True)
        ]
    finally:
        server.stop()
