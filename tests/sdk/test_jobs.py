"""``ws.run(..., tree=...)`` on the embedded client: the tree travels as it does to a server,
and the jobs service itself refuses (and audits) who may not run, before anything is unpacked."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from atelier.errors import InvalidInput, PermissionDenied
from atelier.sdk.embedded import EmbeddedClient
from atelier.services.auth import scopes
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workbench, dict[str, str]]]:
    workspace = jobs_workspace(tmp_path_factory.mktemp("sdk-jobs") / "ws")
    with open_jobs_workbench(workspace) as wb:
        tokens = {}
        for name, role in (("sam", "scientist"), ("bob", "scientist"), ("vic", "viewer")):
            wb.users.create(name, role, PASSWORD)
            tokens[name] = wb.tokens.create(name, "t", 1)[1]
        _, tokens["app"] = wb.tokens.create_for("sam", "app demo", scopes.APP, timedelta(days=1))
        wb.projects.create("churn", wb.acting(tokens["sam"]))
        yield wb, tokens


def test_a_tree_runs_in_its_own_folder_in_the_project(
    setup: tuple[Workbench, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb, tokens = setup
    script(tmp_path, "show.py", "import os, sys\nprint(sorted(os.listdir('.')), sys.prefix)\n")
    (tmp_path / ".gitignore").write_text("secret.csv\n")
    (tmp_path / "secret.csv").write_text("stays here\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with closing(EmbeddedClient(wb.workspace, tokens["sam"])) as ws:
        job = ws.run("show.py", project="churn", tree=tmp_path, wait=True)
        log = ws.jobs.logs(job["id"])
    assert job["state"] == "succeeded", log
    assert job["tree"] and job["project"] == "churn"
    assert "['.gitignore', 'show.py']" in log and "churn/.venv" in log
    entry = wb.audit.entries(action="job.submit", limit=1)[0]
    assert (entry.actor, entry.client, entry.detail["tree"]) == ("sam", "sdk", True)  # type: ignore[index]


@pytest.mark.parametrize(
    ("who", "project", "refusal"),
    [
        ("vic", None, "vic (viewer) may not run jobs"),
        ("app", None, "the token 'app demo' is made for code and may not run jobs"),
        ("bob", "churn", "bob is not a member of project 'churn'"),
    ],
)
def test_the_service_refuses_before_unpacking(
    setup: tuple[Workbench, dict[str, str]],
    tmp_path: Path,
    who: str,
    project: str | None,
    refusal: str,
) -> None:
    wb, tokens = setup
    script(tmp_path, "show.py", "print('never')\n")
    with (
        closing(EmbeddedClient(wb.workspace, tokens[who])) as ws,
        pytest.raises(PermissionDenied, match=re.escape(refusal)),
    ):
        ws.run("show.py", project=project, tree=tmp_path)
    entry = wb.audit.entries(action="job.submit", limit=1)[0]
    assert (entry.actor, entry.success) == ("sam" if who == "app" else who, False)
    incoming = wb.workspace.root / ".atelier" / "jobs" / "incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


def test_a_tree_must_exist_and_hold_the_script_and_old_leftovers_go(
    setup: tuple[Workbench, dict[str, str]], tmp_path: Path
) -> None:
    wb, tokens = setup
    incoming = wb.workspace.root / ".atelier" / "jobs" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    left = incoming / "left-by-a-crash.tar.gz"
    left.write_bytes(b"x")
    os.utime(left, (time.time() - 2 * 86400,) * 2)
    with closing(EmbeddedClient(wb.workspace, tokens["sam"])) as ws:
        with pytest.raises(InvalidInput, match="no such folder"):
            ws.run("show.py", tree=tmp_path / "missing")
        with pytest.raises(InvalidInput, match=r"show\.py: no such file"):
            ws.run("show.py", tree=tmp_path)
    assert list(incoming.iterdir()) == []  # the refused tree, and what a crash left
