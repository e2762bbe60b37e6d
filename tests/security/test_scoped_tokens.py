"""Code a scientist writes never acts as someone else, nor as its owner in full.

Hosted apps, jobs and notebook servers get scoped tokens. These tests take such tokens (made
exactly as the apps, jobs and notebooks services make them) and try everything the code has
no business doing: accounts, tokens, sources, uploads, deployments, the admin pages, MLflow,
notebooks. Every route of the app is enumerated, so that a new route is closed to code tokens
unless it declares a scope. Revoked app tokens (deleted, redeployed, paused app, restarted
server) are refused, and a token never appears in a log or an API response.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.server.security import app_routes, is_public
from atelier.services.auth import Principal
from atelier.services.auth import scopes as token_scopes
from atelier.services.workbench import Workbench
from tests.services.serving.helpers import EXAMPLE, workspace_with_model

PASSWORD = "correct horse battery"
#: A hosted app that prints nothing of its own and just stays up.
QUIET_APP = "import time\nwhile True:\n    time.sleep(1)\n"


@dataclass
class Lab:
    client: TestClient
    wb: Workbench
    people: dict[str, str]  # user -> a person's full token

    def person(self, user: str) -> Principal:
        found = self.wb.users.get(user)
        return Principal(found.id, found.name, found.role, "token")

    def code_token(self, user: str, label: str, scopes: frozenset[str]) -> str:
        return self.wb.tokens.create_for(user, label, scopes, timedelta(hours=1))[1]

    def call(self, token: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workspace = workspace_with_model(tmp_path_factory.mktemp("scoped") / "ws")
    wb = Workbench(workspace)
    people = {}
    for name, role in (("ada", "scientist"), ("bob", "scientist"), ("root", "admin")):
        wb.users.create(name, role, PASSWORD)
        people[name] = wb.tokens.create(name, "own", 1)[1]
    wb.users.create("vic", "viewer", PASSWORD)
    people["vic"] = wb.tokens.create("vic", "own", 1)[1]
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id FROM range(5)"
        ),
        author="ada",
    )
    with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
        lab = Lab(client, wb, people)
        lab.wb.apps.create("churn-demo", "churn@champion", lab.person("ada"))
        yield lab
    wb.close()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "churn-demo", path)


def guarded(lab: Lab) -> list[tuple[str, str, frozenset[str]]]:
    found = []
    for route in app_routes(lab.client.app):  # type: ignore[arg-type]
        if is_public(route.path) or route.path == "/static" or route.roles is None:
            continue
        for method in sorted(route.methods - {"HEAD"}) or ["GET"]:
            found.append((method, route.path, route.scopes))
    return found


#: Everything an app's token may reach, and nothing more: a new route that admits app tokens
#: must be added here on purpose.
APP_ROUTES = {
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/tables"),
    ("GET", "/api/v1/tables/{name}"),
    ("GET", "/api/v1/tables/{name}/versions"),
    ("GET", "/api/v1/tables/{name}/profile"),
    ("GET", "/api/v1/tables/{name}/pii"),
    ("GET", "/api/v1/pii/rules"),
    ("POST", "/api/v1/sql"),
    ("GET", "/api/v1/sql/{query_id}"),
    ("POST", "/api/v1/sql/{query_id}/cancel"),
    ("POST", "/api/v1/models/{name}/predict"),
    ("GET", "/api/v1/models/{name}/serving"),
    ("GET", "/api/v1/apps"),
    ("GET", "/api/v1/apps/{name}"),
    ("POST", "/api/v1/apps/{name}/predict"),
    ("POST", "/api/v1/apps/{name}/feedback"),
}

#: Never for any code token, whoever owns it.
NEVER_FOR_CODE = re.compile(
    r"^/(admin|notebooks|login|logout)\b|^/api/v1/(users|tokens|audit|pii/grants)\b"
    r"|^/api/v1/apps/(deploy|\{name\}/(share|pause|resume|logs))$"
)


def test_app_tokens_reach_exactly_the_declared_routes(lab: Lab) -> None:
    reachable = {(m, p) for m, p, scopes in guarded(lab) if scopes & token_scopes.APP}
    assert reachable == APP_ROUTES


def test_no_code_token_reaches_accounts_admin_notebooks_or_app_management(lab: Lab) -> None:
    for method, path, scopes in guarded(lab):
        if NEVER_FOR_CODE.search(path) or (path.startswith("/api/v1/sources") and method != "GET"):
            assert not scopes, f"{method} {path} admits code tokens ({sorted(scopes)})"
    # Pages are for people: no portal page admits a code token.
    pages = [(m, p) for m, p, s in guarded(lab) if s and not p.startswith(("/api/", "/mlflow"))]
    assert pages == []


@pytest.mark.parametrize("owner", ["ada", "root"])
def test_an_app_token_is_refused_on_every_undeclared_route(lab: Lab, owner: str) -> None:
    """Even an admin's app: the token carries the app's scopes, not the admin's rights."""
    token = lab.code_token(owner, f"app probe-{owner}", token_scopes.APP)
    refused = 0
    for method, path, scopes in guarded(lab):
        if scopes & token_scopes.APP:
            continue
        response = lab.call(token, method, concrete(path))
        assert response.status_code in (403, 405), f"{method} {path}: {response.status_code}"
        refused += 1
    assert refused > 60


ATTACKS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/users", {"json": {"name": "mallory", "role": "admin", "password": "x" * 12}}),
    ("PATCH", "/api/v1/users/ada", {"json": {"role": "admin"}}),
    ("GET", "/api/v1/users", {}),
    ("POST", "/api/v1/tokens", {"json": {"name": "escape", "days": 3650}}),
    ("GET", "/api/v1/tokens", {}),
    ("GET", "/api/v1/audit", {}),
    ("POST", "/api/v1/sources", {"json": {"name": "x", "type": "sqlite", "path": "/etc/passwd"}}),
    ("DELETE", "/api/v1/sources/x", {}),
    ("POST", "/api/v1/uploads?name=shop.orders&mode=replace", {"content": b"id\n1\n"}),
    ("PATCH", "/api/v1/tables/shop.orders", {"json": {"description": "owned"}}),
    ("POST", "/api/v1/apps/deploy", {"json": {"name": "evil", "script": "print(1)"}}),
    ("POST", "/api/v1/apps", {"json": {"name": "evil", "model": "churn@champion"}}),
    ("POST", "/api/v1/apps/churn-demo/share", {"json": {"everyone": True}}),
    ("DELETE", "/api/v1/apps/churn-demo", {}),
    ("GET", "/api/v1/apps/churn-demo/logs", {}),
    ("POST", "/api/v1/projects", {"json": {"name": "evil"}}),
    ("POST", "/api/v1/jobs", {"json": {"target": ["true"]}}),
    ("POST", "/api/v1/features/apply", {"json": {"definitions": {}}}),
    ("PUT", "/api/v1/models/churn/aliases/champion", {"json": {"version": 1}}),
    ("GET", "/admin/users", {}),
    ("POST", "/admin/users", {"data": {"name": "mallory", "role": "admin"}}),
    ("GET", "/admin/audit", {}),
    ("GET", "/", {}),
    ("POST", "/mlflow/api/2.0/mlflow/experiments/create", {"json": {"name": "x"}}),
    ("POST", "/mlflow/ajax-api/2.0/mlflow/runs/delete", {"json": {"run_id": "x"}}),
    ("GET", "/mlflow/api/2.0/mlflow/experiments/search", {}),
    ("GET", "/notebooks/lab", {}),
    ("GET", "/notebooks/api/contents", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), ATTACKS)
def test_an_app_token_cannot(lab: Lab, method: str, path: str, kwargs: dict[str, Any]) -> None:
    token = lab.code_token("root", "app hostile", token_scopes.APP)
    users = len(lab.wb.users.list())
    tokens = len(lab.wb.tokens.list())
    response = lab.call(token, method, path, **kwargs)
    assert response.status_code == 403, (method, path, response.status_code, response.text)
    assert "app hostile" in response.text  # the refusal names the token
    assert len(lab.wb.users.list()) == users
    assert len(lab.wb.tokens.list()) == tokens


def test_an_app_token_reads_tables_and_predicts(lab: Lab) -> None:
    token = lab.code_token("ada", "app reader", token_scopes.APP)
    me = lab.call(token, "GET", "/api/v1/me").json()
    assert me == {
        "name": "ada",
        "role": "scientist",
        "via": "token",
        "scopes": ["data:read", "predict"],
        "token": "app reader",
    }
    assert lab.call(token, "GET", "/api/v1/tables/shop.orders").status_code == 200
    rows = lab.call(
        token, "POST", "/api/v1/sql", json={"sql": "SELECT count(*) AS n FROM shop.orders"}
    )
    assert rows.status_code == 200, rows.text
    predicted = lab.call(token, "POST", "/api/v1/models/churn@champion/predict", json=EXAMPLE)
    assert predicted.status_code == 200, predicted.text
    through_app = lab.call(token, "POST", "/api/v1/apps/churn-demo/predict", json=EXAMPLE)
    assert through_app.status_code == 200, through_app.text
    # SQL is read-only whoever asks: the app's reads cannot become writes.
    write = lab.call(token, "POST", "/api/v1/sql", json={"sql": "DROP TABLE shop.orders"})
    assert write.status_code in (400, 403)
    assert lab.call(lab.people["ada"], "GET", "/api/v1/tables/shop.orders").status_code == 200


@pytest.mark.parametrize("kind", ["job", "notebook"])
def test_job_and_notebook_tokens_work_but_never_manage_accounts(lab: Lab, kind: str) -> None:
    scopes = token_scopes.JOB if kind == "job" else token_scopes.NOTEBOOK
    token = lab.code_token("root", f"{kind} probe", scopes)
    for path in ("/api/v1/projects", "/api/v1/jobs", "/api/v1/features/views", "/api/v1/sources"):
        assert lab.call(token, "GET", path).status_code == 200, path
    assert lab.call(token, "GET", "/api/v1/models").status_code == 200
    refused = [
        (method, path, kwargs)
        for method, path, kwargs in ATTACKS
        if NEVER_FOR_CODE.search(path)
        or (path.startswith("/api/v1/sources") and method != "GET")
        or path.startswith("/api/v1/apps")
        or path == "/"
    ]
    assert len(refused) >= 15
    for method, path, kwargs in refused:
        response = lab.call(token, method, path, **kwargs)
        assert response.status_code == 403, (kind, method, path, response.status_code)


def test_a_token_made_for_code_cannot_mint_a_person_token(lab: Lab) -> None:
    token = lab.code_token("ada", "job 999", token_scopes.JOB)
    assert lab.call(token, "POST", "/api/v1/tokens", json={"name": "x"}).status_code == 403
    assert not [t for t in lab.wb.tokens.list("ada") if t.name == "x"]


# -- hosted apps' own tokens: revocation and secrecy ---------------------------------------


def _app_token(lab: Lab, name: str) -> str:
    app = lab.wb.apps.registry.get(name)
    return lab.wb.apps._launch(app).env["ATELIER_TOKEN"]


def _alive(lab: Lab, token: str) -> bool:
    return lab.call(token, "GET", "/api/v1/me").status_code == 200


def test_an_apps_token_is_scoped_labelled_short_and_revoked(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = lab.person("ada")
    lab.wb.apps.deploy("revoked", QUIET_APP, ada, kind="dash")
    token = _app_token(lab, "revoked")
    # Labelled after the app and the server that runs this copy of it.
    label = f"app revoked on {lab.wb.apps.replica}"
    info = next(t for t in lab.wb.tokens.list("ada") if t.name == label and t.active)
    assert info.scopes == token_scopes.APP
    assert info.expires_at - info.created_at <= timedelta(days=1)
    assert _alive(lab, token)
    # A new start makes a new token and revokes the one before.
    again = _app_token(lab, "revoked")
    assert not _alive(lab, token) and _alive(lab, again)
    # Redeployed: the old token dies at once (the process restarts with a new one).
    lab.wb.apps.deploy("revoked", QUIET_APP + "# v2\n", ada, kind="dash")
    assert not _alive(lab, again)
    token = _app_token(lab, "revoked")
    lab.wb.apps.pause("revoked", ada)
    assert not _alive(lab, token)
    lab.wb.apps.resume("revoked", ada)  # starts the app (and makes its token)
    lab.wb.apps.supervisor.stop("revoked")
    token = _app_token(lab, "revoked")
    assert _alive(lab, token)
    # A server that starts again revokes what an earlier one handed out (kept in the
    # database, not in memory: a new service object knows nothing of the old tokens).
    monkeypatch.setattr(lab.wb.apps, "start", lambda app: None)
    lab.wb.apps.start_running()
    assert not _alive(lab, token)
    token = _app_token(lab, "revoked")
    lab.wb.apps.delete("revoked", ada)
    assert not _alive(lab, token)
    # A person's own token named like an app's is never touched by these revocations.
    assert _alive(lab, lab.people["ada"])


def test_the_token_never_shows_in_logs_or_responses(lab: Lab) -> None:
    ada = lab.person("ada")
    lab.wb.apps.deploy("quiet", QUIET_APP, ada, kind="dash")
    app = lab.wb.apps.registry.get("quiet")
    hosted = lab.wb.apps.start(app)
    try:
        deadline = time.monotonic() + 30
        while hosted.spec is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hosted.spec is not None
        secret = hosted.spec.env["ATELIER_TOKEN"]
        assert secret.startswith("atl_") and _alive(lab, secret)
        while "starting quiet" not in lab.wb.apps.supervisor.logs("quiet"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        log_file = lab.wb.apps.supervisor.log_path("quiet")
        assert secret not in log_file.read_text()
        secret_part = secret.split("_", 2)[2]  # the secret may hold "_" itself
        headers = {"Authorization": f"Bearer {lab.people['ada']}"}
        for path in (
            "/api/v1/apps",
            "/api/v1/apps/quiet",
            "/api/v1/apps/quiet/logs",
            "/api/v1/tokens",
            "/api/v1/me",
        ):
            response = lab.client.get(path, headers=headers)
            assert response.status_code == 200, path
            assert secret_part not in response.text, path
        page = lab.client.get("/apps/quiet/-/logs", headers=headers)
        assert page.status_code == 200 and secret_part not in page.text
    finally:
        lab.wb.apps.delete("quiet", ada)
    assert not _alive(lab, secret)


def test_app_logs_are_for_the_owner_and_admins(lab: Lab) -> None:
    lab.wb.apps.deploy("diary", QUIET_APP, lab.person("ada"), kind="dash")
    log_file = lab.wb.apps.supervisor.log_path("diary")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("secret printed by the app\n")
    try:
        for who, status in (("ada", 200), ("root", 200), ("bob", 403), ("vic", 403)):
            response = lab.call(lab.people[who], "GET", "/api/v1/apps/diary/logs")
            assert response.status_code == status, who
            assert ("secret printed" in response.text) == (status == 200)
        page = lab.call(lab.people["bob"], "GET", "/apps/diary/-/logs")
        assert page.status_code == 403 and "secret printed" not in page.text
        with pytest.raises(Exception, match="owner"):
            lab.wb.apps.logs("diary", lab.person("bob"))
    finally:
        lab.wb.apps.delete("diary", lab.person("ada"))


def test_old_tokens_without_scopes_keep_full_rights(lab: Lab, tmp_path: Path) -> None:
    """A person's token made before scopes existed (NULL scopes) works as before."""
    response = lab.call(lab.people["root"], "GET", "/api/v1/users")
    assert response.status_code == 200
    assert all(t.scopes is None for t in lab.wb.tokens.list("root") if t.name == "own")


def test_a_jobs_token_is_scoped_labelled_never_shown_and_revoked_at_its_end(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    import atelier.services.jobs.service as jobs_service

    # As if the server answered at the workspace's URL (this test's server is in-process).
    monkeypatch.setattr(jobs_service, "server_up", lambda url: True)
    monkeypatch.setattr(jobs_service, "try_link", lambda *args: (None, "no MLflow here"))
    code = "import os; print('token set:', bool(os.environ['ATELIER_TOKEN']))"
    job = lab.wb.jobs.submit([sys.executable, "-c", code], principal=lab.person("bob"))
    tokens = [t for t in lab.wb.tokens.list("bob") if t.name == f"job {job.id}"]
    assert len(tokens) == 1 and tokens[0].scopes == token_scopes.JOB
    ended = lab.wb.jobs.wait(job.id, timeout=60)
    assert ended.state == "succeeded", ended
    log = lab.wb.jobs.log_path(job.id).read_text()
    assert "token set: True" in log
    info = next(t for t in lab.wb.tokens.list("bob") if t.key == tokens[0].key)
    assert info.revoked_at is not None  # revoked in the database when the job ended
    headers = {"Authorization": f"Bearer {lab.people['bob']}"}
    for path in (f"/api/v1/jobs/{job.id}", f"/api/v1/jobs/{job.id}/logs", "/api/v1/jobs"):
        response = lab.client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert "atl_" not in response.text, path


#: A hosted app that tries, with the token it is given, what an attacker's app would.
PROBE_APP = """
import os, time, urllib.request
url, token = os.environ["ATELIER_URL"], os.environ["ATELIER_TOKEN"]
for method, path in [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/tables"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/admin/users"),
    ("GET", "/mlflow/api/2.0/mlflow/experiments/search"),
]:
    request = urllib.request.Request(
        url + path,
        method=method,
        data=b'{"name": "escape"}' if method == "POST" else None,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        status = urllib.request.urlopen(request, timeout=20).status
    except urllib.error.HTTPError as error:
        status = error.code
    print("PROBE", method, path, status, flush=True)
print("PROBE done", flush=True)
while True:
    time.sleep(1)
"""


def test_a_running_app_uses_its_own_token_against_a_real_server(tmp_path: Path) -> None:
    from atelier.config import Workspace, init_workspace
    from tests.conftest import start_server

    root, _ = init_workspace(tmp_path / "ws")
    workspace = Workspace.open(root, environ={})
    wb = Workbench(workspace)
    try:
        wb.users.create("root", "admin", PASSWORD)
        admin = wb.users.get("root")
        # An admin's app: the worst case, its token must still carry only the app's scopes.
        wb.apps.deploy(
            "probe", PROBE_APP, Principal(admin.id, "root", "admin", "local"), kind="dash"
        )
        server = start_server(workspace)  # starts the running hosted apps
        try:
            deadline = time.monotonic() + 60
            log = wb.apps.supervisor.log_path("probe")
            while time.monotonic() < deadline:
                text = log.read_text() if log.exists() else ""
                if "PROBE done" in text:
                    break
                time.sleep(0.3)
            results = dict(
                (" ".join(line.split()[1:3]), int(line.split()[3]))
                for line in text.splitlines()
                if line.startswith("PROBE ") and line != "PROBE done"
            )
            assert results == {
                "GET /api/v1/me": 200,
                "GET /api/v1/tables": 200,
                "GET /api/v1/users": 403,
                "POST /api/v1/tokens": 403,
                "GET /admin/users": 403,
                "GET /mlflow/api/2.0/mlflow/experiments/search": 403,
            }, text
            assert not [t for t in wb.tokens.list("root") if t.name == "escape"]
            assert "atl_" not in text
        finally:
            server.stop()
        # The server stopped its app and revoked its token.
        assert not [t for t in wb.tokens.list("root") if t.name == "app probe" and t.active]
    finally:
        wb.close()


def test_a_route_cannot_declare_a_scope_that_does_not_exist() -> None:
    from atelier.server.security import allow

    with pytest.raises(ValueError, match="unknown scopes"):
        allow("admin", scopes=("admin",))
    with pytest.raises(ValueError, match="unknown scopes"):
        allow("admin", scopes=("*",))


@pytest.mark.parametrize("path", ["/notebooks/api/kernels/x/channels", "/notebooks/terminals/1"])
def test_code_tokens_open_no_websocket_to_notebooks(lab: Lab, path: str) -> None:
    from starlette.testclient import WebSocketDenialResponse

    for scopes in (token_scopes.APP, token_scopes.JOB):
        token = lab.code_token("root", "job socket", scopes)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            lab.client.websocket_connect(path, headers=headers) as socket,
        ):
            socket.receive_text()
        # Refused by the gateway's guard before any JupyterLab is started or reached.
        assert refused.value.status_code == 403
        assert "is for code" in refused.value.text
        assert lab.wb.notebooks.users() == []
