"""`atelier projects` and `atelier env` as users run them: each test runs on the workspace
(embedded) and from a laptop folder against a real server (remote)."""

from __future__ import annotations

import json
from datetime import timedelta

from atelier.services.auth import scopes
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error


def test_projects_members_and_environments(cli: Cli) -> None:
    sam, vic = cli.as_("sam"), cli.as_("vic")
    created = sam("projects", "create", "demo", "--description", "Demo work")
    assert created.returncode == 0, created.stderr
    server = cli.root / "projects" / "demo"
    assert f"Created project demo in {server}" in created.stdout

    listed = sam("projects", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("demo ")
    assert "owner: sam" in listed.stdout and "Demo work" in listed.stdout
    shown = json.loads(sam("projects", "show", "demo", "--json").stdout)
    assert shown["environment"]["requirements"] == ["ipykernel"]
    assert [(m["name"], m["role"]) for m in shown["members"]] == [("sam", "owner")]
    assert shown["role"] == "owner"
    assert "already exists" in one_line_error(sam("projects", "create", "demo"))
    assert "project 'nope' not found" in one_line_error(sam("projects", "show", "nope"))
    refused = one_line_error(vic("projects", "list"))
    assert "viewer" in refused and "may not" in refused

    # Members: owners manage them; a viewer cannot be one; a member cannot add others.
    added = sam("projects", "members", "add", "demo", "ada")
    assert added.stdout.strip() == "ada is now an editor of project demo", added.stderr
    assert "vic is a viewer" in one_line_error(sam("projects", "members", "add", "demo", "vic"))
    removed = sam("projects", "members", "remove", "demo", "ada")
    assert removed.stdout.strip() == "Removed ada from project demo"
    assert "ada is not a member" in one_line_error(
        sam("projects", "members", "remove", "demo", "ada")
    )

    # The environment, by --project, by ATELIER_PROJECT; a failed add changes nothing.
    added = sam("env", "add", "six==1.17.0", "--project", "demo")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Added six 1.17.0 to demo"
    failed = one_line_error(sam("env", "add", "six==0.0.1", "-p", "demo"))
    assert "there is no version of six==0.0.1" in failed and "unchanged" in failed
    shown = sam("env", "show", env={"ATELIER_PROJECT": "demo"})
    assert "six                              1.17.0" in shown.stdout
    assert "pass --project NAME, run this inside a project folder" in one_line_error(
        sam("env", "show")
    )
    # Inside the workspace's project folder the project is known (embedded: the folder is
    # on this machine).
    if not cli.remote:
        here = sam("env", "show", "--json", cwd=server / "notebooks")
        assert json.loads(here.stdout)["project"] == "demo"
    removed = sam("env", "remove", "six", "--project", "demo")
    assert removed.returncode == 0, removed.stderr
    synced = sam("env", "sync", "--project", "demo")
    assert synced.stdout.strip() == "Environment of demo matches its uv.lock", synced.stderr


def test_pull_edit_push(cli: Cli) -> None:
    """The laptop workflow: pull a project, change it, push it back; outsiders and code
    tokens are refused."""
    sam = cli.as_("sam")
    assert sam("projects", "create", "lab").returncode == 0
    server = cli.root / "projects" / "lab"

    pulled = sam("projects", "pull", "lab")
    assert pulled.returncode == 0, pulled.stderr
    laptop = cli.cwd / "lab"
    assert pulled.stdout.startswith(f"Pulled project lab into {laptop} (4 files)")
    assert (laptop / "uv.lock").read_bytes() == (server / "uv.lock").read_bytes()
    assert not (laptop / ".venv").exists()
    assert "is not empty" in one_line_error(sam("projects", "pull", "lab"))
    # In the pulled folder, `env` knows its project.
    shown = sam("env", "show", "--json", cwd=laptop / "notebooks")
    assert json.loads(shown.stdout)["project"] == "lab", shown.stderr

    (laptop / "src").mkdir()
    (laptop / "src" / "prep.py").write_text("COLUMNS = ['age']\n")
    (laptop / "scratch.csv").write_text("1,2\n")
    (laptop / ".gitignore").write_text((laptop / ".gitignore").read_text() + "*.csv\n")
    pushed = sam("projects", "push", cwd=laptop / "src")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"Pushed {laptop} to project lab: 2 written, 0 deleted"
    assert (server / "src" / "prep.py").read_text() == "COLUMNS = ['age']\n"
    assert not (server / "scratch.csv").exists()

    (server / "src" / "prep.py").write_text("COLUMNS = ['income']\n")
    (laptop / "src" / "prep.py").write_text("COLUMNS = ['tenure']\n")
    conflict = one_line_error(sam("projects", "push", "--path", str(laptop)))
    assert "changed on the server since your pull: src/prep.py" in conflict
    forced = sam("projects", "push", "--path", str(laptop), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (server / "src" / "prep.py").read_text() == "COLUMNS = ['tenure']\n"

    # Not for another project's folder, outsiders, viewers or the code of a job.
    assert "was pulled from project 'lab', not 'other'" in one_line_error(
        sam("projects", "push", "other", cwd=laptop)
    )
    refused = one_line_error(cli.as_("vic")("projects", "pull", "lab", "elsewhere"))
    assert "viewer" in refused and "may not" in refused
    wb = cli.workbench()
    try:
        wb.users.create("eve", "scientist", "correct horse battery")
        eve = wb.tokens.create("eve", "cli", 1)[1]
        job = wb.tokens.create_for("sam", "job 7", scopes.WORK, timedelta(hours=1))[1]
    finally:
        wb.close()
    outsider = one_line_error(sam("projects", "pull", "lab", "x", env={"ATELIER_TOKEN": eve}))
    assert "eve is not a member of project 'lab'" in outsider
    code = one_line_error(sam("projects", "push", cwd=laptop, env={"ATELIER_TOKEN": job}))
    assert "the token 'job 7' is" in code and "for code and may not" in code
    assert not (cli.cwd / "x").exists() and not (cli.cwd / "elsewhere").exists()
