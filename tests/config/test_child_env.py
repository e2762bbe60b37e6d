"""User code (jobs, notebook kernels, apps) does not inherit the server's secrets."""

from __future__ import annotations

import pytest

from atelier.backends.compute.local import inherited_environment
from atelier.config.child_env import without_server_secrets

SECRETS = {
    "ATELIER_STORAGE_SECRET_ACCESS_KEY": "s3-secret",
    "ATELIER_STORAGE_ACCESS_KEY_ID": "s3-key",
    "ATELIER_SECRETS_KEY": "fernet",
    "AWS_ACCESS_KEY_ID": "aws-key",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-token",
}


def test_server_secrets_are_left_out() -> None:
    kept = without_server_secrets({**SECRETS, "PATH": "/bin", "AWS_CA_BUNDLE": "/ca.pem"})
    assert kept == {"PATH": "/bin", "AWS_CA_BUNDLE": "/ca.pem"}


def test_a_job_through_the_server_inherits_none_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    through_server = inherited_environment({"ATELIER_URL": "http://x", "ATELIER_TOKEN": "t"})
    assert not set(SECRETS) & set(through_server)
    assert "PATH" in through_server
    # Without a server the job opens the workspace itself, as its owner: it needs them.
    embedded = inherited_environment({})
    assert set(SECRETS) <= set(embedded)
