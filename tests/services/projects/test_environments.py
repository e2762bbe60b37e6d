"""Project environments on a real uv and PyPI: conflicting versions side by side, failures that
leave everything as it was, members only, and changes that never interleave."""

from __future__ import annotations

import threading

import pytest

from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.projects.layout import BASE_LINK, site_packages
from atelier.services.projects.uvtool import run_uv
from atelier.services.workbench import Workbench
from tests.services.projects.conftest import Bench, run_python

VERSION = "import six; print(six.__version__, six.__file__)"


@pytest.fixture(scope="module")
def installed(bench: Bench) -> Bench:
    """six 1.16.0 and tabulate in alpha, six 1.17.0 in beta."""
    env = bench.wb.projects.env
    env.add("alpha", ["six==1.16.0", "tabulate"], bench.people["ada"])
    env.add("beta", ["six==1.17.0"], bench.people["bob"])
    return bench


def test_two_projects_hold_conflicting_versions(installed: Bench) -> None:
    alpha, beta = installed.alpha, installed.beta
    version, where = run_python(alpha, VERSION).stdout.split()
    assert version == "1.16.0" and where.startswith(str(alpha.venv))
    version, where = run_python(beta, VERSION).stdout.split()
    assert version == "1.17.0" and where.startswith(str(beta.venv))

    assert run_python(alpha, "import tabulate").returncode == 0
    missing = run_python(beta, "import tabulate")
    assert missing.returncode != 0 and "No module named 'tabulate'" in missing.stderr


def test_show_gives_requirements_and_locked_versions(installed: Bench) -> None:
    shown = installed.wb.projects.env.show("alpha")
    assert shown.requirements[:2] == ("ipykernel", "six==1.16.0")
    assert shown.requirements[2].startswith("tabulate")
    assert shown.version_of("six") == "1.16.0"
    assert shown.version_of("tabulate")
    direct = {p.name for p in shown.packages if p.direct}
    assert direct == {"ipykernel", "six", "tabulate"}
    # Transitive packages are locked too, with exact versions.
    assert any(p.name == "pyzmq" and not p.direct for p in shown.packages)
    assert shown.as_dict()["python"].endswith("python")


@pytest.mark.parametrize(
    ("spec", "because"),
    [
        ("atelier-no-such-package-xyz", "was not found in the package registry"),
        ("six==0.0.1", "there is no version of six==0.0.1"),
    ],
)
def test_a_package_that_does_not_resolve_changes_nothing(
    installed: Bench, spec: str, because: str
) -> None:
    alpha = installed.alpha
    before = {f: (alpha.path / f).read_bytes() for f in ("pyproject.toml", "uv.lock")}
    with pytest.raises(InvalidInput, match=because) as caught:
        installed.wb.projects.env.add("alpha", ["pyjokes", spec], installed.people["ada"])
    assert "the environment is unchanged" in str(caught.value)
    assert {f: (alpha.path / f).read_bytes() for f in before} == before
    # Not even the good package of the same request was installed.
    assert run_python(alpha, "import pyjokes").returncode != 0
    assert run_python(alpha, VERSION).stdout.startswith("1.16.0")
    entry = installed.wb.audit.entries(action="project.env.add", limit=1)[0]
    assert not entry.success and entry.detail == {"packages": ["pyjokes", spec]}


def test_options_and_empty_requests_never_reach_uv(installed: Bench) -> None:
    env, ada = installed.wb.projects.env, installed.people["ada"]
    with pytest.raises(InvalidInput, match="options cannot be passed to uv"):
        env.add("alpha", ["--index-url=http://evil.example/simple"], ada)
    with pytest.raises(InvalidInput, match="name at least one package"):
        env.add("alpha", [" "], ada)
    with pytest.raises(InvalidInput, match="does not require numpy"):
        env.remove("alpha", ["numpy"], ada)
    with pytest.raises(InvalidInput, match="ipykernel cannot be removed"):
        env.remove("alpha", ["ipykernel"], ada)


def test_only_members_and_admins_change_an_environment(installed: Bench) -> None:
    env, p = installed.wb.projects.env, installed.people
    with pytest.raises(PermissionDenied, match="cy is not a member of project 'alpha'"):
        env.add("alpha", ["tabulate"], p["cy"])
    # Reading is open to everyone who works with data.
    assert env.show("alpha").version_of("six") == "1.16.0"


def test_remove_uninstalls(installed: Bench) -> None:
    env = installed.wb.projects.env
    shown = env.remove("alpha", ["tabulate"], installed.people["root"])
    assert not any(r.startswith("tabulate") for r in shown.requirements)
    assert shown.version_of("tabulate") is None
    assert run_python(installed.alpha, "import tabulate").returncode != 0
    env.add("alpha", ["tabulate"], installed.people["ada"])


def test_uv_sync_keeps_the_link_to_atelier(installed: Bench) -> None:
    beta = installed.beta
    link = site_packages(beta.venv) / BASE_LINK
    text = link.read_text()
    # A plain `uv sync` (as a user might run in a terminal) removes extraneous packages but
    # leaves the .pth file alone, as it belongs to no package.
    run_uv(["sync", "--project", str(beta.path)], venv=beta.venv, cwd=beta.path)
    assert link.read_text() == text
    link.unlink()
    installed.wb.projects.env.sync("beta", installed.people["bob"])
    assert link.read_text() == text
    assert run_python(beta, "import atelier, duckdb").returncode == 0


def test_concurrent_changes_do_not_interleave(installed: Bench) -> None:
    env, bob = installed.wb.projects.env, installed.people["bob"]
    errors: list[BaseException] = []

    def add(package: str) -> None:
        try:
            env.add("beta", [package], bob)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(p,)) for p in ("pyjokes", "tabulate")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    shown = env.show("beta")
    assert shown.version_of("pyjokes") and shown.version_of("tabulate")
    assert run_python(installed.beta, "import pyjokes, tabulate").returncode == 0


def test_installed_packages_survive_a_restart(installed: Bench) -> None:
    again = Workbench(installed.wb.workspace)
    try:
        project = again.projects.get("alpha")
        assert again.projects.env.show("alpha").version_of("six") == "1.16.0"
        assert run_python(project, "import tabulate").returncode == 0
    finally:
        again.close()
