"""`atelier login`, `whoami`, `logout` from a laptop folder, and the account commands both ways
(embedded and against a real server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from tests.cli.conftest import Cli
from tests.cli.helpers import atelier, one_line_error
from tests.conftest import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def confirm_in_portal(url: str, user: str, user_code: str) -> None:
    """What the person does in the browser: sign in with a password, confirm the code."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        page = browser.get("/login")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        browser.post("/login", data={"name": user, "password": PASSWORD, "csrf_token": csrf})
        page = browser.get("/device", params={"code": user_code})
        assert page.status_code == 200, page.text
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        done = browser.post(
            "/device", data={"code": user_code, "action": "confirm", "csrf_token": csrf}
        )
        assert done.status_code == 200 and "signed in as" in done.text, done.text


def login(url: str, user: str, env: dict[str, str], cwd: Path) -> str:
    """`atelier login URL` as a user runs it, confirmed in the portal; its output."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "login", url, "--no-browser", "--name", "laptop"],
        cwd=cwd,
        env={**environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    code = None
    for line in process.stderr:
        found = re.fullmatch(r"\s+([A-Z]{4}-[A-Z]{4})\s*", line)
        if found:
            code = found.group(1)
            break
    assert code, "atelier login printed no code"
    confirm_in_portal(url, user, code)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


def test_login_whoami_logout(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config)}
    if not cli.remote:
        # On the workspace: whoami is the local admin; logout has nothing to do.
        local = atelier("whoami", cwd=cli.root, env=env)
        assert "(admin, via local)" in local.stdout
        assert "not logged in" in atelier("logout", "--all", cwd=cli.cwd, env=env).stdout
        return
    assert cli.server is not None
    url = cli.server.url
    out = login(url, "sam", env, cli.cwd)
    assert f"Logged in to {url} as sam (scientist)" in out
    stored = config / "atelier" / "credentials.toml"
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert oct(stored.parent.stat().st_mode & 0o777) == "0o700"
    # No ATELIER_URL, no ATELIER_TOKEN, no workspace: the stored login is used.
    me = atelier("whoami", cwd=cli.cwd, env=env)
    assert me.stdout.strip() == f"sam (scientist, via token) at {url}", me.stderr
    listed = atelier("tokens", "list", cwd=cli.cwd, env=env).stdout
    assert re.search(r"sam\s+laptop\s+active", listed)
    token = stored.read_text().split('token = "')[1].split('"')[0]

    out = atelier("logout", cwd=cli.cwd, env=env)
    assert f"Logged out of {url}" in out.stdout and "left active" not in out.stdout
    # Revoked on the server, gone from the file.
    refused = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert "atl_" not in stored.read_text()
    error = one_line_error(atelier("whoami", cwd=cli.cwd, env=env))
    assert "atelier login URL" in error
    # A token from elsewhere can be stored as it is.
    out = atelier(
        "login", url, "--token-stdin", cwd=cli.cwd, env=env, stdin=cli.tokens["vic"] + "\n"
    )
    assert "as vic (viewer)" in out.stdout, out.stderr
    bad = atelier("login", url, "--token-stdin", cwd=cli.cwd, env=env, stdin="atl_no_pe\n")
    assert "not authenticated" in one_line_error(bad)
    assert "atelier.example" in one_line_error(
        atelier("login", "atelier.example", cwd=cli.cwd, env=env)
    )


def test_accounts_commands(cli: Cli) -> None:
    made = cli("users", "create", "grace", "--role", "viewer", "--password-stdin", stdin="p" * 12)
    assert made.stdout.strip() == "Created viewer grace", made.stderr
    assert "grace is now scientist" in cli("users", "set-role", "grace", "scientist").stdout
    assert "grace disabled" in cli("users", "disable", "grace").stdout
    assert re.search(r"grace\s+scientist\s+\(disabled\)", cli("users", "list").stdout)

    # Tokens: a scientist's own; another's only for an admin.
    sam = cli.as_("sam")
    token = sam("tokens", "create", "--name", "nightly", "--days", "2")
    assert token.stdout.startswith("atl_") and "copy it now" in token.stderr
    key = token.stdout.split("_")[1]
    assert re.search(rf"{key}\s+sam\s+nightly\s+active", sam("tokens", "list").stdout)
    # No token of ada's is listed (the owner column; a key's hex digits may spell "ada").
    owners = {line.split()[1] for line in sam("tokens", "list").stdout.splitlines() if line}
    assert owners == {"sam"}
    assert "may not create tokens for ada" in one_line_error(
        sam("tokens", "create", "--user", "ada")
    )
    assert "may not list the tokens of ada" in one_line_error(
        sam("tokens", "list", "--user", "ada")
    )
    ada_key = cli("tokens", "create", "--user", "grace").stdout.split("_")[1]
    assert f"token '{ada_key}' not found" in one_line_error(sam("tokens", "revoke", ada_key))
    assert f"Revoked token {key} of sam" in sam("tokens", "revoke", key).stdout

    # Viewers and scientists do not manage users or read the audit log.
    for person, args in (("sam", ("users", "list")), ("vic", ("tokens", "create"))):
        assert "may not" in one_line_error(cli.as_(person)(*args))
    assert "may not" in one_line_error(sam("audit"))
    log = cli("audit", "--limit", "20").stdout
    assert "token.revoke" in log and "user.create" in log

    # A token made for code (a job's) manages no accounts, whoever owns it.
    wb = cli.workbench()
    try:
        code = wb.tokens.create_for("ada", "job 1", frozenset({"jobs"}), timedelta(hours=1))[1]
    finally:
        wb.close()
    assert "job 1" in one_line_error(cli("users", "list", env={"ATELIER_TOKEN": code}))
