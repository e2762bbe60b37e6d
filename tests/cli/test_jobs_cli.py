"""`atelier run`, `atelier jobs` and `atelier profiles` as users run them: on the workspace
(embedded) and from a laptop against a real server (remote), where the folder's files travel
with the job."""

from __future__ import annotations

import subprocess
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from atelier.cli import main
from atelier.services.auth import scopes
from atelier.services.jobs import spare
from atelier.services.workbench import Workbench
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error
from tests.services.jobs.helpers import jobs_workspace, script

SHOW = """\
import os, sys
print("epoch", sys.argv[1:])
for folder, _, files in sorted(os.walk(".")):
    for name in sorted(files):
        print("has", os.path.join(folder, name)[2:])
sys.exit(4)
"""


def job_id_of(stderr: str) -> str:
    return stderr.split("job ", 1)[1].split(":", 1)[0]


def test_run_follow_list_show_logs_and_cancel(cli: Cli) -> None:
    here = cli.cwd
    script(here, "train.py", SHOW)
    (here / ".gitignore").write_text("*.csv\n")
    (here / "secret.csv").write_text("not for the server\n")
    ran = cli("run", "--param", "lr=0.1", "train.py", "--epochs", "2")
    assert ran.returncode == 4, ran.stderr
    assert "epoch ['--epochs', '2', '--lr=0.1']" in ran.stdout
    assert "on small (local)" in ran.stderr and "failed after" in ran.stderr
    job_id = job_id_of(ran.stderr)
    if cli.remote:
        # From a laptop the folder travels (without what .gitignore leaves out).
        assert "has train.py" in ran.stdout and "secret.csv" not in ran.stdout
        assert f"see {cli.server.url}/jobs/{job_id}" in ran.stderr  # type: ignore[union-attr]
    else:
        assert "has secret.csv" in ran.stdout  # on the workspace it runs where it is

    listed = cli("jobs", "list")
    assert f"{job_id}  failed" in listed.stdout, listed.stderr
    shown = cli("jobs", "show", job_id)
    assert "exit_code     4" in shown.stdout and "profile       small" in shown.stdout
    assert ("tree          True" in shown.stdout) == cli.remote
    logs = cli("jobs", "logs", job_id, "--no-follow")
    assert "epoch" in logs.stdout and "exit code 4" in logs.stdout
    mine = cli.as_("sam")("jobs", "list", "--mine", "--json")
    assert mine.returncode == 0 and mine.stdout.strip() == "[]"

    command = cli("run", "-d", "--", "sh", "-c", "echo from a command")
    assert command.returncode == 0, command.stderr
    followed = cli("jobs", "logs", command.stdout.strip())
    assert "from a command" in followed.stdout and followed.returncode == 0

    script(here, "wait.py", "import time\nprint('waiting', flush=True)\ntime.sleep(600)\n")
    waiting = cli("run", "-d", "wait.py")
    assert waiting.returncode == 0, waiting.stderr
    wait_id = waiting.stdout.strip()
    other = one_line_error(cli.as_("sam")("jobs", "cancel", wait_id))
    assert f"job {wait_id} belongs to ada: only they or an admin may cancel it" in other
    cancelled = cli("jobs", "cancel", wait_id)
    assert cancelled.returncode == 0 and f"job {wait_id}" in cancelled.stdout
    if cli.remote:  # on the same server (one MLflow start for both)
        a_git_checkout_runs_on_the_server_in_its_project(cli)


def test_profiles_bad_requests_and_refusals(cli: Cli) -> None:
    script(cli.cwd, "ok.py", "print('ok')\n")
    assert "unknown profile 'nope'" in one_line_error(cli("run", "--profile", "nope", "ok.py"))
    # (Profiles the machine cannot run and missing scripts: see tests/server/api/test_jobs_api.py.)
    assert "job 424242 not found" in one_line_error(cli("jobs", "show", "424242"))
    assert "write NAME=VALUE" in one_line_error(cli("run", "--param", "lr", "ok.py"))
    # A model environment is looked up (here: no such model), never a project's instead.
    missing = cli("run", "--model-env", "nosuch@champion", "ok.py")
    assert missing.returncode != 0 and "error: no registered model 'nosuch'" in missing.stderr
    viewer = one_line_error(cli.as_("vic")("run", "ok.py"))
    assert "viewer" in viewer
    with closing(cli.workbench()) as wb:
        _, app_token = wb.tokens.create_for("sam", "app demo", scopes.APP, timedelta(days=1))
    coded = one_line_error(cli("run", "ok.py", env={"ATELIER_TOKEN": app_token}))
    assert "app demo" in coded

    listed = cli("profiles")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0].lstrip("*"): line for line in listed.stdout.splitlines()}
    assert lines["small"].startswith("*") and lines["small"].endswith("ok")
    assert "0 GPUs" in lines["gpu"]


def a_git_checkout_runs_on_the_server_in_its_project(cli: Cli) -> None:
    """From a laptop: the checkout's files as git keeps them (committed or not, never the
    ignored ones) run in the project's environment on the server, in a folder of their own;
    the job's id and its MLflow run come back."""
    with closing(cli.workbench()) as wb:
        sam = wb.acting(cli.tokens["sam"])
        wb.projects.create("churn", sam)
        wb.projects.create("vault", wb.acting(cli.tokens["ada"]))
        server_project = wb.projects.get("churn").path
    checkout = cli.cwd / "churn"
    files = {
        "pyproject.toml": '[project]\nname = "churn"\nversion = "0.1.0"\n',
        ".gitignore": ".venv/\nsecret.csv\ndata/\n",
        "train.py": (
            "import os, sys\n"
            "import helper\n"
            "print('helper says', helper.WORD)\n"
            "print('env', os.environ.get('ATELIER_PROJECT'), sys.prefix.endswith('.venv'))\n"
            "print('mlflow run', os.environ.get('MLFLOW_RUN_ID'))\n"
            "for f in ('secret.csv', 'data/big.parquet', 'notes.md', 'src/helper.py'):\n"
            "    print(f, os.path.exists(f))\n"
        ),
        "src/helper.py": "WORD = 'from the laptop'\n",
        "notes.md": "untracked, not ignored: travels\n",
        "secret.csv": "ignored: stays on the laptop\n",
        "data/big.parquet": "ignored\n",
        "sub/.keep": "",
    }
    for name, text in files.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    git = ["git", "-C", str(checkout)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pyproject.toml", ".gitignore", "train.py", "src"], check=True)

    sam = cli.as_("sam")
    ran = sam("run", "train.py", cwd=checkout / "sub")
    assert ran.returncode == 0, ran.stderr + ran.stdout
    out = ran.stdout
    assert "helper says from the laptop" in out and "env churn True" in out
    assert "notes.md True" in out and "src/helper.py True" in out
    assert "secret.csv False" in out and "data/big.parquet False" in out
    job_id = job_id_of(ran.stderr)
    assert "project churn" in ran.stderr and f"job {job_id} succeeded" in ran.stderr
    run_id = out.split("mlflow run ", 1)[1].split()[0]
    assert run_id != "None" and f"MLflow run {run_id}" in ran.stderr
    with closing(cli.workbench()) as wb:
        job = wb.jobs.get(int(job_id))
        assert job.tree and job.workdir.endswith(f"artifacts/jobs/{job_id}/tree")
        assert not (Path(job.workdir) / "secret.csv").exists()
    # The project's own folder on the server is untouched.
    assert not (server_project / "train.py").exists()

    refused = one_line_error(sam("run", "--project", "vault", "train.py", cwd=checkout))
    assert "sam is not a member of project 'vault'" in refused
    with closing(cli.workbench()) as wb:
        entry = wb.audit.entries(action="job.submit", limit=1)[0]
        assert (entry.actor, entry.success, entry.target) == ("sam", False, "vault")
        assert list((cli.root / ".atelier" / "jobs" / "incoming").iterdir()) == []


def test_run_on_the_workspace_hands_the_job_to_the_supervisor_it_started_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`atelier run` starts the job's supervisor before it opens the workspace (in the same
    process here, to see which supervisor the job got)."""
    workspace = jobs_workspace(tmp_path / "ws")
    script(tmp_path, "hi.py", "import os\nprint('hi from', os.environ['ATELIER_JOB_ID'])\n")
    started: list[spare.Spare | None] = []
    original = spare.start_early

    def recording() -> spare.Spare | None:
        started.append(original())
        return started[-1]

    monkeypatch.setattr(spare, "start_early", recording)
    monkeypatch.chdir(tmp_path)
    for name in ("ATELIER_URL", "ATELIER_TOKEN", "ATELIER_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main.cli, ["run", "-w", str(workspace.root), "hi.py"])
    assert result.exit_code == 0, result.output
    early = started[0]
    assert early is not None and early.pid is not None
    job_id = int(job_id_of(result.output))
    assert f"hi from {job_id}" in result.output
    assert spare.take_early() is None
    with closing(Workbench(workspace)) as wb:
        assert wb.jobs.records.get(job_id).supervisor_pid == early.pid


def test_run_against_a_server_starts_no_supervisor_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(spare, "start_early", lambda: started.append(1))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATELIER_WORKSPACE", raising=False)
    monkeypatch.setenv("ATELIER_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("ATELIER_TOKEN", "not-a-token")
    script(tmp_path, "hi.py", "print('hi')\n")
    result = CliRunner().invoke(main.cli, ["run", "hi.py"])
    assert result.exit_code != 0  # nothing answers there
    assert started == []
