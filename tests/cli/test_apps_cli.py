"""``atelier apps`` embedded and against a server: publish a model as an app, share, pause,
delete; deploy a whole folder; and the refusals (a viewer, another scientist, a code token,
a link out of the folder), each one line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from atelier.config import Workspace
from atelier.services.auth import scopes
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error
from tests.services.serving.helpers import register_churn_model
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


def ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_publish_share_pause_and_delete(cli: Cli) -> None:
    from atelier.services.tracking import TrackingStore

    store = TrackingStore.for_workspace(Workspace.open(cli.root, environ={}))
    store.prepare()
    register_churn_model(store.backend_uri, store.artifacts_dir / "churn")
    vic, sam = cli.as_("vic"), cli.as_("sam")

    out = ok(cli("apps", "create", "churn-demo", "--model", "churn@champion"))
    assert "app churn-demo serves churn@champion" in out and "/apps/churn-demo" in out
    assert json.loads(ok(vic("apps", "list", "--json"))) == []
    assert "no app 'churn-demo' is shared with you" in one_line_error(
        vic("apps", "show", "churn-demo")
    )
    assert "shared with vic" in ok(cli("apps", "share", "churn-demo", "--user", "vic"))
    shown = ok(vic("apps", "show", "churn-demo"))
    assert "churn@champion (version 1), owned by ada" in shown and "segment" in shown

    # Neither the viewer nor another scientist manages ada's app.
    for who, why in ((vic, "may not"), (sam, "only the owner of app 'churn-demo' (ada)")):
        assert why in one_line_error(who("apps", "pause", "churn-demo"))
        assert why in one_line_error(who("apps", "share", "churn-demo", "--everyone"))
    assert "paused" in ok(cli("apps", "pause", "churn-demo"))
    listed = json.loads(ok(cli("apps", "list", "--json")))
    assert [(a["name"], a["status"], a["shared_with"]) for a in listed] == [
        ("churn-demo", "paused", ["vic"])
    ]
    assert "deleted" in ok(cli("apps", "delete", "churn-demo"))
    assert "no registered model 'nope'" in one_line_error(
        cli("apps", "create", "x", "--model", "nope@a")
    )


def test_deploy_a_folder(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "explorer"
    (folder / "data").mkdir(parents=True)
    (folder / "app.py").write_text("import streamlit as st\nfrom helpers import X\n")
    (folder / "helpers.py").write_text("X = 1\n")
    (folder / "data" / "big.csv").write_text("id\n1\n")
    (folder / ".gitignore").write_text("data/\n")
    sam = cli.as_("sam")

    out = ok(sam("apps", "deploy", str(folder), "--name", "explorer"))
    assert "streamlit app explorer deployed" in out and "/apps/explorer/" in out
    wb = cli.workbench()
    try:
        shipped = wb.apps.folder / "explorer"
        assert sorted(p.name for p in shipped.iterdir()) == [".gitignore", "app.py", "helpers.py"]
        _, job_token = wb.tokens.create_for("sam", "job 7", scopes.JOB, timedelta(hours=1))
    finally:
        wb.close()
    assert "has written nothing yet" in ok(sam("apps", "logs", "explorer"))

    # Refused, each in one line: a viewer, a job's token, a broken script, a link out.
    assert "may not" in one_line_error(cli.as_("vic")("apps", "deploy", str(folder), "--name", "v"))
    line = one_line_error(
        cli("apps", "deploy", str(folder), "--name", "j", env={"ATELIER_TOKEN": job_token})
    )
    assert "may not" in line, line
    broken = tmp_path / "broken.py"
    broken.write_text("import streamlit as st\nst.write('hi'\n")
    assert "broken.py, line 2" in one_line_error(sam("apps", "deploy", str(broken), "--name", "b"))
    (folder / "key").symlink_to(Path.home())
    assert "key links out of the folder" in one_line_error(
        sam("apps", "deploy", str(folder), "--name", "explorer")
    )
    assert (
        "--entry names the script of a folder"
        in sam("apps", "deploy", str(broken), "--name", "b", "--entry", "x.py").stderr
    )
    wb = cli.workbench()
    try:
        assert sorted(p.name for p in (wb.apps.folder / "explorer").iterdir()) == [
            ".gitignore",
            "app.py",
            "helpers.py",
        ]
        assert [a.name for a in wb.apps.registry.list()] == ["explorer"]
    finally:
        wb.close()
