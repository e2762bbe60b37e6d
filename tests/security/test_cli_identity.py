"""Attacks on the CLI's identity: inside a workspace, the CLI acts as the person ATELIER_TOKEN
names, never as the admin behind their back.

A scientist with a token creates apps, feature views, jobs and projects that are theirs (and
audited as theirs, from "cli"), is refused what the API refuses a scientist (users, other
people's tokens, sources, the audit log), and a token the workspace refuses (garbage, revoked,
expired, of a disabled user) is an error, never a fall-back to the admin. Without a token the
CLI says on stderr which local admin it acts as. In-process (click's runner): fast.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

import atelier
from atelier.backends.metadata import ApiToken
from atelier.backends.metadata.models import utcnow
from atelier.cli.main import cli
from atelier.config import Workspace
from atelier.errors import AuthenticationFailed
from atelier.services.workbench import Workbench, owner_name
from tests.cli.helpers import LOCAL_ADMIN_NOTICE, workspace_with

PASSWORD = "correct horse battery"
FEATURES = """
project: churn
entities:
  - {name: customer, keys: [cid]}
views:
  - name: spend
    entity: customer
    source: s.tx
    timestamp: ts
    ttl: 7d
    features: [amount]
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a table, users ada (scientist), vera (viewer), root1 (admin)."""
    tmp = tmp_path_factory.mktemp("cli-identity")
    root = workspace_with(
        tmp, "CREATE SCHEMA s; CREATE TABLE s.tx AS SELECT 1 AS cid, now() AS ts, 9.5 AS amount"
    )
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.users.create("ada", "scientist", PASSWORD)
        wb.users.create("vera", "viewer", PASSWORD)
        wb.users.create("root1", "admin", PASSWORD)
    finally:
        wb.close()
    return root


@pytest.fixture
def wb(root: Path) -> Any:
    workbench = Workbench(Workspace.open(root, environ={}))
    yield workbench
    workbench.close()


def token_of(wb: Workbench, user: str) -> str:
    return wb.tokens.create(user, "cli test", 1)[1]


def run(root: Path, *args: str, token: str | None = None, stdin: str | None = None) -> Result:
    env: dict[str, str | None] = {
        "ATELIER_TOKEN": token,
        "ATELIER_URL": None,
        "ATELIER_WORKSPACE": str(root),
    }
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def refused(result: Result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: "), result.stderr
    for word in words:
        assert word in message, message
    return message


def test_a_scientist_owns_what_the_cli_makes(root: Path, wb: Workbench, tmp_path: Path) -> None:
    token = token_of(wb, "ada")
    script = tmp_path / "app.py"
    script.write_text("import streamlit as st\nst.write('hi')\n")
    deployed = run(root, "apps", "deploy", str(script), "--name", "ada-app", token=token)
    assert deployed.exit_code == 0, deployed.output
    assert LOCAL_ADMIN_NOTICE not in deployed.stderr
    assert wb.apps.registry.get("ada-app").owner == "ada"

    views = tmp_path / "features.yaml"
    views.write_text(FEATURES)
    applied = run(root, "features", "apply", str(views), "--yes", token=token)
    assert applied.exit_code == 0, applied.output
    assert wb.features.view("spend").owner == "ada"

    job = run(root, "run", "--", "python", "-c", "print('from a job')", token=token)
    assert job.exit_code == 0, job.output
    assert wb.jobs.list(limit=1)[0].submitted_by == "ada"

    audited = [
        (e.action, e.actor, e.client)
        for e in wb.audit.entries(limit=50)
        if e.action in ("app.deploy", "features.apply")
    ]
    assert ("app.deploy", "ada", "cli") in audited
    assert ("features.apply", "ada", "cli") in audited
    # Nothing was done as the workspace's OS user.
    assert all(e.actor != owner_name() for e in wb.audit.entries(limit=50))


def test_a_scientist_creates_a_project_of_their_own(root: Path, wb: Workbench) -> None:
    made = run(root, "projects", "create", "adas", token=token_of(wb, "ada"))
    assert made.exit_code == 0, made.output
    project = wb.projects.get("adas")
    assert project.role_of("ada") == "owner" and project.created_by == "ada"
    assert project.role_of(owner_name()) is None


def test_a_scientist_cannot_do_what_only_admins_may(root: Path, wb: Workbench) -> None:
    token = token_of(wb, "ada")
    attempts = [
        (["users", "create", "mallory", "--role", "admin", "--password-stdin"], "create users"),
        (["users", "set-role", "ada", "admin"], "change roles"),
        (["users", "set-password", "root1", "--password-stdin"], "set passwords"),
        (["users", "disable", "root1"], "disable users"),
        (["users", "list"], "list users"),
        (["tokens", "create", "--user", "root1"], "create tokens for root1"),
        (["tokens", "list", "--user", "root1"], "list the tokens of root1"),
        (["audit"], "read the audit log"),
        (["sources", "add", "x", "--type", "sqlite", "--path", str(root)], "add sources"),
        (["sources", "remove", "x", "--yes"], "remove sources"),
        (["login-link", "--user", "root1"], "make login links for root1"),
        (["demo"], "load the demo"),
    ]
    for args, doing in attempts:
        result = run(root, *args, token=token, stdin=f"{PASSWORD}-evil\n")
        refused(result, "ada (scientist) may not", doing)
    assert {u.name for u in wb.users.list()} == {"ada", "vera", "root1"}
    assert wb.users.get("ada").role == "scientist"
    assert wb.tokens.list("root1") == []
    assert wb.users.verify_password("root1", PASSWORD) is not None
    # Their own tokens, yes; someone else's cannot even be found.
    mine = run(root, "tokens", "list", "--json", token=token)
    assert {t["user"] for t in json.loads(mine.stdout)} == {"ada"}
    others = wb.tokens.create("root1", "admin's", 1)[0]
    refused(run(root, "tokens", "revoke", others.key, token=token), "not found")
    assert wb.tokens.list("root1")[0].active


def test_a_viewer_is_refused_the_workbench(root: Path, wb: Workbench) -> None:
    token = token_of(wb, "vera")
    refused(run(root, "sql", "SELECT 1", token=token), "vera (viewer) may not")
    refused(run(root, "data", "list", token=token), "vera (viewer) may not")
    refused(run(root, "projects", "create", "veras", token=token), "vera (viewer) may not")
    assert run(root, "apps", "list", token=token).exit_code == 0


@pytest.mark.parametrize("how", ["garbage", "unknown", "wrong secret", "revoked", "expired"])
def test_a_token_the_workspace_refuses_is_an_error_not_admin(
    root: Path, wb: Workbench, how: str
) -> None:
    info, token = wb.tokens.create("ada", f"to be {how}", 1)
    if how == "garbage":
        token, why = "not-a-token", "not an Atelier token"
    elif how == "unknown":
        token, why = "atl_000000000000_" + "z" * 43, "unknown"
    elif how == "wrong secret":
        token, why = f"atl_{info.key}_" + "z" * 43, "wrong secret"
    elif how == "revoked":
        wb.tokens.revoke(info.key)
        why = "revoked"
    else:
        with wb.db.session() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.key == info.key)
                .values(expires_at=utcnow() - timedelta(days=1))
            )
        why = "expired"
    before = len(wb.users.list())
    result = run(root, "users", "create", f"evil-{how[:3]}", "--role", "admin",
                 "--password-stdin", token=token, stdin=f"{PASSWORD}\n")  # fmt: skip
    refused(result, "ATELIER_TOKEN is not accepted", why)
    assert LOCAL_ADMIN_NOTICE not in result.stderr
    assert len(wb.users.list()) == before
    refused(run(root, "whoami", token=token), "ATELIER_TOKEN is not accepted")


def test_a_disabled_users_token_is_refused(root: Path, wb: Workbench) -> None:
    wb.users.create("gone", "admin", PASSWORD)
    token = token_of(wb, "gone")
    wb.users.set_disabled("gone", True)
    refused(run(root, "users", "list", token=token), "disabled user gone")


def test_without_a_token_the_cli_names_the_local_admin(root: Path) -> None:
    listed = run(root, "users", "list", "--json")
    assert listed.exit_code == 0, listed.output
    notice = f"acting as local admin '{owner_name()}' (set ATELIER_TOKEN to act as yourself)"
    assert listed.stderr.strip().splitlines() == [notice]
    # stdout stays machine-readable.
    assert {u["name"] for u in json.loads(listed.stdout)} >= {"ada", owner_name()}


def test_whoami_and_the_embedded_sdk_act_as_the_token(root: Path, wb: Workbench) -> None:
    token = token_of(wb, "ada")
    shown = run(root, "whoami", token=token)
    assert shown.stdout.strip() == "ada (scientist, via token)"
    with atelier.connect(workspace=str(root), token=token) as ws:
        assert ws.whoami()["name"] == "ada"
        made = ws.create_project("sdk-ada")
    assert made["role"] == "owner"
    with atelier.connect(workspace=str(root), token=None) as ws:
        assert ws.whoami() == {"name": owner_name(), "role": "admin", "via": "local"}
    wb.tokens.revoke(token.split("_")[1])
    with pytest.raises(AuthenticationFailed, match="revoked"):
        atelier.connect(workspace=str(root), token=token)


@pytest.mark.parametrize(
    "args",
    [
        ("users", "create", "mallory", "--role", "admin", "--password-stdin"),
        ("users", "list"),
        ("tokens", "create", "--name", "mine"),
        ("tokens", "list"),
        ("audit",),
        ("apps", "delete", "anything"),
        ("projects", "members", "add", "churn", "mallory"),
    ],
)
def test_a_code_token_is_held_to_its_scopes(
    root: Path, wb: Workbench, args: tuple[str, ...]
) -> None:
    """A job's token of an admin (what a job's code finds in ATELIER_TOKEN) does the job's work
    through the CLI, and nothing about accounts, apps or members: the API's scopes, not only
    the owner's role."""
    from atelier.services.auth import scopes

    _, token = wb.tokens.create_for("root1", "job 999", scopes.JOB, timedelta(hours=1))
    users_before = len(wb.users.list())
    refused = run(root, *args, token=token, stdin="correct horse battery\n")
    assert refused.exit_code != 0
    assert "made for code" in refused.output, refused.output
    assert len(wb.users.list()) == users_before
    allowed = run(root, "sql", "SELECT count(*) AS n FROM s.tx", token=token)
    assert allowed.exit_code == 0, allowed.output
