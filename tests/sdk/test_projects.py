"""Projects and environments through the SDK: the same test for the embedded and remote client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from atelier.contract.projects import MARKER
from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.sdk.client import Client
from tests.sdk.test_client import ws  # noqa: F401  (the client fixture, both kinds)


def test_projects_and_environments(
    ws: Client,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = ws.create_project("lab", "try things")
    assert created["name"] == "lab" and created["role"] == "owner"
    assert [(p["name"], p["role"]) for p in ws.projects()] == [("lab", "owner")]
    with pytest.raises(Conflict, match="project 'lab' already exists"):
        ws.create_project("lab")
    with pytest.raises(InvalidInput, match="project name 'Lab!'"):
        ws.create_project("Lab!")

    monkeypatch.delenv("ATELIER_PROJECT", raising=False)
    with pytest.raises(InvalidInput, match="pass project=NAME or set ATELIER_PROJECT"):
        ws.env_show()
    monkeypatch.setenv("ATELIER_PROJECT", "lab")

    shown = ws.env_add("six==1.16.0")
    assert "six==1.16.0" in shown["requirements"]
    assert {"name": "six", "version": "1.16.0", "direct": True} in shown["packages"]
    python = Path(shown["python"])
    check = subprocess.run(
        [python, "-c", "import six; print(six.__version__)"], capture_output=True, text=True
    )
    assert check.stdout.strip() == "1.16.0", check.stderr

    with pytest.raises(InvalidInput, match=r"there is no version of six==0\.0\.1"):
        ws.env_add("six==0.0.1", project="lab")
    assert ws.env_show("lab")["requirements"] == shown["requirements"]

    removed = ws.env_remove("six")
    assert removed["requirements"] == ["ipykernel"]
    with pytest.raises(NotFound, match="project 'nope' not found"):
        ws.env_show("nope")


# Files more than metadata: one metadata database is enough (the others test both).
@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_pull_edit_push(
    ws: Client,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A project pulled to a laptop folder, changed there and pushed back, as a merge."""
    project = ws.create_project("pp")
    server = Path(project["path"])
    laptop = tmp_path / "laptop" / "pp"
    pulled = ws.projects.pull("pp", laptop)
    assert pulled["files"] == [".gitignore", "notebooks/start.ipynb", "pyproject.toml", "uv.lock"]
    assert not (laptop / ".venv").exists() and (laptop / MARKER).is_file()
    with pytest.raises(InvalidInput, match="is not empty"):
        ws.projects.pull("pp", laptop)

    # New code, an ignored data file, a link out: only the code travels; the link is refused.
    (laptop / "src").mkdir()
    (laptop / "src" / "features.py").write_text("WINDOW = 7\n")
    (laptop / ".gitignore").write_text((laptop / ".gitignore").read_text() + "*.csv\n")
    (laptop / "big.csv").write_text("a,b\n1,2\n")
    (laptop / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match="passwd links out of the folder"):
        ws.projects.push(laptop)
    (laptop / "passwd").unlink()
    pushed = ws.projects.push(laptop)
    assert pushed["written"] == [".gitignore", "src/features.py"]
    assert pushed["environment"] == "unchanged"
    assert (server / "src" / "features.py").read_text() == "WINDOW = 7\n"
    assert not (server / "big.csv").exists() and not (server / MARKER).exists()

    # A teammate changes files on the server: the laptop's change of one is a conflict; the
    # other, unchanged on the laptop, keeps the server's version (as does a new notebook).
    (server / "src" / "features.py").write_text("WINDOW = 14\n")
    (server / "notebooks" / "start.ipynb").write_text('{"cells": []}')
    (server / "notebooks" / "new.ipynb").write_text("{}")
    (laptop / "src" / "features.py").write_text("WINDOW = 30\n")
    with pytest.raises(Conflict, match=r"1 file\(s\) changed on the server since your pull: src/"):
        ws.projects.push(laptop)
    assert (server / "src" / "features.py").read_text() == "WINDOW = 14\n"
    forced = ws.projects.push(laptop, force=True)
    assert forced["written"] == ["src/features.py"] and forced["kept"] == ["notebooks/new.ipynb"]
    assert forced["newer"] == ["notebooks/start.ipynb"]
    assert (server / "notebooks" / "start.ipynb").read_text() == '{"cells": []}'
    # Changed on the laptop now, the stale copy conflicts with the server's newer one.
    (laptop / "notebooks" / "start.ipynb").write_text("{}")
    with pytest.raises(Conflict, match=r"notebooks/start\.ipynb"):
        ws.projects.push(laptop)
    (laptop / "notebooks" / "start.ipynb").unlink()
    with pytest.raises(Conflict, match=r"notebooks/start\.ipynb"):
        ws.projects.push(laptop)
    # A file deleted on the laptop since the last push goes on the server too.
    (laptop / "src" / "features.py").unlink()
    (server / "notebooks" / "start.ipynb").unlink()
    assert ws.projects.push(laptop)["deleted"] == ["src/features.py"]
    assert not (server / "src" / "features.py").exists()

    # A lock that does not match its pyproject.toml: nothing changes, and uv says why.
    pyproject = laptop / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["ipykernel"]', '["ipykernel", "six"]'))
    (laptop / "src" / "more.py").write_text("")
    before = (server / "pyproject.toml").read_text()
    with pytest.raises(InvalidInput, match=r"the pushed uv\.lock does not install"):
        ws.projects.push(laptop)
    assert (server / "pyproject.toml").read_text() == before
    assert not (server / "src" / "more.py").exists()
    # Locked on the laptop with uv, the push installs it on the server.
    locked = subprocess.run(
        [sys.executable, "-m", "uv", "lock", "--python", sys.executable, "--project", laptop],
        capture_output=True,
        text=True,
    )
    assert locked.returncode == 0, locked.stderr
    synced = ws.projects.push(laptop)
    assert synced["environment"] == "synced"
    assert ws.env_show("pp")["requirements"] == ["ipykernel", "six"]
    check = subprocess.run([project["python"], "-c", "import six"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
