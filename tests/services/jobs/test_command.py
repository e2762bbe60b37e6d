"""Job names: a command job is named after its program, or after the script an interpreter runs."""

from pathlib import Path

import pytest

from atelier.services.jobs.command import command_name, resolve_target


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["python", "score.py"], "score.py"),
        (["/opt/venv/bin/python3.11", "/tmp/ws/score.py", "--rows", "10"], "score.py"),
        (["python3", "-u", "-W", "ignore", "train.py"], "train.py"),
        (["python", "-m", "pkg.train", "--epochs", "3"], "pkg.train"),
        (["ipython", "analysis.ipynb"], "analysis.ipynb"),
        (["python", "-c", "print(1)"], "python"),
        (["python"], "python"),
        (["python", "-m"], "python"),
        (["bash", "run.sh"], "bash"),
        (["/usr/bin/env"], "env"),
        (["pythonista", "x.py"], "pythonista"),
    ],
)
def test_command_name(command: list[str], name: str) -> None:
    assert command_name(command) == name


def test_interpreter_job_is_named_after_its_script(tmp_path: Path) -> None:
    target = resolve_target(["python", "score.py", "a"], cwd=tmp_path, project_dir=None)
    assert (target.kind, target.name, target.args) == (
        "command",
        "score.py",
        ("python", "score.py", "a"),
    )
    # A script given directly keeps its own name, as before.
    (tmp_path / "fit.py").write_text("")
    direct = resolve_target(["fit.py"], cwd=tmp_path, project_dir=None)
    assert (direct.kind, direct.name) == ("script", "fit.py")
