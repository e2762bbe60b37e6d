"""What a JupyterLab request changes, by project: the paths as JupyterLab reads them."""

from __future__ import annotations

import json

import pytest

from atelier.services.notebooks.rights import Change, changes, project_of


@pytest.mark.parametrize(
    ("path", "project"),
    [
        ("churn/notebooks/a.ipynb", "churn"),
        ("churn", "churn"),
        ("other/../churn/x", "churn"),
        ("./churn//x", "churn"),
        ("/churn/x/", "churn"),
        ("", None),
        ("/", None),
        ("..", None),
        ("../churn", "churn"),  # JupyterLab's root is the top: '..' stays there
        ("churn/../..", None),
    ],
)
def test_the_project_of_a_path(path: str, project: str | None) -> None:
    assert project_of(path) == project


def test_reads_change_nothing() -> None:
    assert changes("GET", "api/contents/churn/a.ipynb", b"") == []
    assert changes("POST", "git/churn/status", b"{}") == []
    assert changes("POST", "git/churn/notebooks/log", b"{}") == []
    assert changes("POST", "git/diffnotebook", b"{}") == []
    assert changes("POST", "api/sessions", b'{"kernel": {"name": "python3"}}') == []


def test_changes_name_their_project() -> None:
    files = "change its files"
    assert changes("PUT", "api/contents/churn/a.txt", b"") == [Change("churn", files)]
    assert changes("POST", "api/contents", b"") == [Change(None, files)]
    rename = json.dumps({"path": "x/../other/a.txt"}).encode()
    assert changes("PATCH", "api/contents/churn/a.txt", rename) == [
        Change("churn", files),
        Change("other", files),
    ]
    run = "run its notebooks"
    session = json.dumps({"path": "mine/x.ipynb", "kernel": {"name": "atelier-churn"}}).encode()
    assert changes("POST", "api/sessions", session) == [Change("churn", run)]
    assert changes("POST", "api/kernels", b'{"name": "atelier-churn"}') == [Change("churn", run)]
    git = "change its git repository"
    assert changes("POST", "git/churn/commit", b"{}") == [Change("churn", git)]
    assert changes("POST", "git/churn/branch/delete", b"{}") == [Change("churn", git)]
    assert changes("DELETE", "git/churn/remote/origin", b"") == [Change("churn", git)]
    assert changes("POST", "git/clone", b"{}") == [Change(None, git)]
    # A body that is not JSON, or not an object, names no kernel.
    assert changes("POST", "api/sessions", b"not json") == []
    assert changes("POST", "api/kernels", b"[1]") == []
