"""Projects and environments through the SDK: the same test for the embedded and remote client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
