"""A hosted Streamlit app starts with options the installed Streamlit knows, and shows its
viewers the viewer's menu only (no "Deploy" button, no developer options)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from atelier.services.apps.hosting import Launch, command
from atelier.services.apps.registry import AppInfo


def test_streamlit_options_are_known_and_hide_the_deploy_button(tmp_path: Path) -> None:
    from streamlit import config

    now = datetime.now(UTC)
    app = AppInfo(
        "dash-board", "streamlit", "Board", "", None, "p", "app.py", "running", False, (),
        "ada", now, now,
    )  # fmt: skip
    argv, _ = command(app, Launch("python", tmp_path / "app.py", tmp_path), 8123)
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
    known = config._config_options_template
    assert set(options) <= set(known), set(options) - set(known)
    assert options["client.toolbarMode"] == "viewer"
    assert "viewer" in (known["client.toolbarMode"].description or "")
    assert options["server.baseUrlPath"] == "/apps/dash-board"
