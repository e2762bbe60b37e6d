"""`atelier run`, `atelier jobs` and `atelier profiles` as users run them (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import atelier, one_line_error
from tests.services.jobs.helpers import jobs_workspace, script


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jobs_workspace(tmp_path_factory.mktemp("jobs-cli") / "ws").root


def test_run_follows_the_output_and_exits_with_the_job(root: Path, tmp_path: Path) -> None:
    script(tmp_path, "train.py", "import sys\nprint('epoch', sys.argv[1:])\nsys.exit(4)\n")
    ran = atelier(
        "run", "-w", str(root), "--param", "lr=0.1", "train.py", "--epochs", "2", cwd=tmp_path
    )
    assert ran.returncode == 4, ran.stderr
    assert "epoch ['--epochs', '2', '--lr=0.1']" in ran.stdout
    assert "on small (local)" in ran.stderr and "failed after" in ran.stderr
    job_id = ran.stderr.split("job ", 1)[1].split(":", 1)[0]

    listed = atelier("jobs", "list", "-w", str(root))
    assert f"{job_id}  failed" in listed.stdout
    shown = atelier("jobs", "show", job_id, "-w", str(root))
    assert "exit_code     4" in shown.stdout and "profile       small" in shown.stdout
    logs = atelier("jobs", "logs", job_id, "--no-follow", "-w", str(root))
    assert "epoch" in logs.stdout and "exit code 4" in logs.stdout

    command = atelier(
        "run", "-w", str(root), "-d", "--", "sh", "-c", "echo from a command", cwd=tmp_path
    )
    assert command.returncode == 0, command.stderr
    followed = atelier("jobs", "logs", command.stdout.strip(), "-w", str(root))
    assert "from a command" in followed.stdout and followed.returncode == 0


def test_bad_requests_are_one_line_errors(root: Path, tmp_path: Path) -> None:
    script(tmp_path, "ok.py", "print('ok')\n")
    wrong = one_line_error(
        atelier("run", "-w", str(root), "--profile", "nope", "ok.py", cwd=tmp_path)
    )
    assert "unknown profile 'nope'" in wrong
    huge = one_line_error(
        atelier("run", "-w", str(root), "--profile", "huge", "ok.py", cwd=tmp_path)
    )
    assert "asks for 100000 CPUs" in huge and "this machine has at most" in huge
    missing = one_line_error(atelier("run", "-w", str(root), "missing.py", cwd=tmp_path))
    assert "missing.py: no such file" in missing
    assert "job 424242 not found" in one_line_error(
        atelier("jobs", "show", "424242", "-w", str(root))
    )


def test_profiles_say_what_the_machine_can_run(root: Path) -> None:
    listed = atelier("profiles", "-w", str(root))
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0].lstrip("*"): line for line in listed.stdout.splitlines()}
    assert lines["small"].startswith("*") and lines["small"].endswith("ok")
    assert "cannot run: this machine has at most" in lines["huge"]
    assert "0 GPUs" in lines["gpu"]
