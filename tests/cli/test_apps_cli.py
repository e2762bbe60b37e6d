import json
from pathlib import Path

import pytest

from atelier.config import Workspace
from tests.cli.helpers import atelier, one_line_error
from tests.services.serving.helpers import workspace_with_model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws: Workspace = workspace_with_model(tmp_path_factory.mktemp("cli") / "ws")
    return ws


def run(workspace: Workspace, *args: str, stdin: str | None = None) -> str:
    result = atelier(*args, "--workspace", str(workspace.root), stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_share_pause_and_delete(workspace: Workspace) -> None:
    out = run(workspace, "apps", "create", "churn-demo", "--model", "churn@champion")
    assert "app churn-demo serves churn@champion" in out and "/apps/churn-demo" in out
    run(workspace, "users", "create", "vera", "--role", "viewer", "--password-stdin",
        stdin="correct horse battery\n")  # fmt: skip
    assert "shared with vera" in run(workspace, "apps", "share", "churn-demo", "--user", "vera")
    assert "paused" in run(workspace, "apps", "pause", "churn-demo")
    listed = json.loads(run(workspace, "apps", "list", "--json"))
    assert [(a["name"], a["status"], a["shared_with"]) for a in listed] == [
        ("churn-demo", "paused", ["vera"])
    ]
    assert "deleted" in run(workspace, "apps", "delete", "churn-demo")


def test_deploy_and_one_line_errors(workspace: Workspace, tmp_path: Path) -> None:
    line = one_line_error(
        atelier("apps", "create", "x", "--model", "nope@a", "-w", str(workspace.root))
    )
    assert "no registered model 'nope'" in line
    broken = tmp_path / "app.py"
    broken.write_text("import streamlit as st\nst.write('hi'\n")
    line = one_line_error(
        atelier("apps", "deploy", str(broken), "--name", "b", "-w", str(workspace.root))
    )
    assert "app.py, line 2" in line
    script = tmp_path / "hello.py"
    script.write_text("import streamlit as st\nst.title('Hello')\n")
    out = run(workspace, "apps", "deploy", str(script), "--name", "hello")
    assert "streamlit app hello deployed" in out and "/apps/hello/" in out
    assert "has written nothing yet" in run(workspace, "apps", "logs", "hello")
