"""The laptop workflow end to end, from a separate virtual environment holding only the light
client (`pip install atelier`: the base dependencies, none of the server's): log in with a code
confirmed in the portal, pull a project, run a script of it on the server, see the run.

The environment is built offline from this checkout's own installed packages: a new venv whose
site-packages links exactly the distributions the base dependencies of pyproject.toml need
(their requirements followed, markers evaluated), plus Atelier's source. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.cli.test_login_cli import confirm_in_portal
from tests.conftest import PASSWORD, RunningServer, start_server

ROOT = Path(__file__).resolve().parent.parent
#: Packages only a server needs: none may be importable in the light client.
SERVER_ONLY = ("fastapi", "sqlalchemy", "duckdb", "mlflow", "uvicorn", "jupyterlab", "alembic")


def client_distributions() -> set[str]:
    """The installed distributions the base dependencies need, requirements followed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [(Requirement(text), "") for text in project["dependencies"]]
    found: set[str] = set()
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        key = f"{name}[{','.join(extras)}]"
        if key in found:
            continue
        found.update({key, name})
        distribution = importlib.metadata.distribution(name)
        for text in distribution.requires or ():
            for wanted in ("", *extras):
                pending.append((Requirement(text), wanted))
    return {name for name in found if "[" not in name}


def build_light_venv(target: Path) -> Path:
    """A venv with only the client's packages (linked from this one) and Atelier's source."""
    subprocess.run(
        [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", target],
        check=True,
    )
    (site,) = target.glob("lib/python*/site-packages")
    for name in sorted(client_distributions()):
        distribution = importlib.metadata.distribution(name)
        base = Path(str(distribution.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in distribution.files or () if ".." not in str(f)}
        for top in tops:
            source = base / top
            if source.exists() and not (site / top).exists() and not top.endswith(".pth"):
                (site / top).symlink_to(source)
    (site / "atelier_source.pth").write_text(str(ROOT / "src") + "\n")
    script = target / "bin" / "atelier"
    script.write_text(f"#!{target / 'bin' / 'python'}\nfrom atelier.cli.main import main\nmain()\n")
    script.chmod(0o755)
    return target


@pytest.fixture(scope="module")
def laptop_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_light_venv(tmp_path_factory.mktemp("laptop") / "venv")


@pytest.fixture
def team_server(tmp_path: Path) -> Iterator[RunningServer]:
    root, _ = init_workspace(tmp_path / "ws")
    with closing(Workbench(Workspace.open(root, environ={}))) as wb:
        wb.users.create("ada", "admin", PASSWORD)
        sam = wb.users.create("sam", "scientist", PASSWORD)
        del sam
        wb.projects.create("churn", wb.acting(wb.tokens.create("sam", "setup", 1)[1]))
    server = start_server(Workspace.open(root, environ=dict(os.environ)))
    yield server
    server.stop()


def run_in(
    venv: Path, *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "VIRTUAL_ENV"))}
    clean["PATH"] = f"{venv / 'bin'}:{clean.get('PATH', '')}"
    return subprocess.run(
        [str(venv / "bin" / "atelier"), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_light_client_has_none_of_the_servers_packages(
    laptop_venv: Path, tmp_path: Path
) -> None:
    python = laptop_venv / "bin" / "python"
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = subprocess.run(
        [python, "-c", probe, *SERVER_ONLY], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"
    # `atelier --help` works, and a command that needs a workspace says what to install.
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert "login" in run_in(laptop_venv, "--help", cwd=tmp_path, env=env).stdout
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "atelier.toml").write_text("")
    refused = run_in(laptop_venv, "tokens", "list", cwd=tmp_path / "ws", env=env)
    assert refused.returncode == 1
    assert "pip install 'atelier[server]'" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    nowhere = run_in(laptop_venv, "whoami", cwd=tmp_path, env=env)
    assert "atelier login URL" in nowhere.stderr, nowhere.stderr


def test_laptop_login_pull_run_and_see_the_run(
    laptop_venv: Path, team_server: RunningServer, tmp_path: Path
) -> None:
    url = team_server.url
    home = tmp_path / "home"
    home.mkdir()
    env = {"XDG_CONFIG_HOME": str(home / ".config"), "HOME": str(home)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "VIRTUAL_ENV"))}
    login = subprocess.Popen(
        [str(laptop_venv / "bin" / "atelier"), "login", url, "--no-browser"],
        cwd=home,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert login.stderr is not None
    code = next(
        (
            m.group(1)
            for line in login.stderr
            if (m := re.fullmatch(r"\s+([A-Z]{4}-[A-Z]{4})\s*", line))
        ),
        None,
    )
    assert code, "no code printed"
    confirm_in_portal(url, "sam", code)
    out, err = login.communicate(timeout=60)
    assert login.returncode == 0 and "as sam (scientist)" in out, err

    me = run_in(laptop_venv, "whoami", cwd=home, env=env)
    assert me.stdout.strip() == f"sam (scientist, via token) at {url}", me.stderr

    # SQL runs on the server; rows come back as Arrow (and pandas in Python).
    answered = run_in(
        laptop_venv, "sql", "SELECT 42 AS answer", "--format", "csv", cwd=home, env=env
    )
    assert answered.returncode == 0 and "42" in answered.stdout, answered.stderr
    python = laptop_venv / "bin" / "python"
    frame = subprocess.run(
        [python, "-c", "import atelier; print(atelier.connect().sql('SELECT 7 AS n').n[0])"],
        cwd=home,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert frame.stdout.strip() == "7", frame.stderr

    pulled = run_in(laptop_venv, "projects", "pull", "churn", cwd=home, env=env)
    assert pulled.returncode == 0, pulled.stderr
    checkout = home / "churn"
    assert (checkout / "uv.lock").is_file() and (checkout / "pyproject.toml").is_file()

    (checkout / "train.py").write_text(
        "import os\n"
        "print('written on the laptop, run in', os.environ.get('ATELIER_PROJECT'))\n"
        "print('mlflow run', os.environ.get('MLFLOW_RUN_ID'))\n"
    )
    ran = run_in(laptop_venv, "run", "train.py", cwd=checkout, env=env)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert "written on the laptop, run in churn" in ran.stdout
    job_id = re.search(r"job (\d+):", ran.stderr).group(1)  # type: ignore[union-attr]
    run_id = ran.stdout.split("mlflow run ", 1)[1].split()[0]
    assert run_id != "None"

    shown = run_in(laptop_venv, "jobs", "show", job_id, "--json", cwd=home, env=env)
    assert shown.returncode == 0, shown.stderr
    assert '"succeeded"' in shown.stdout and run_id in shown.stdout
