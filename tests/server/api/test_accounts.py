"""The users, tokens and audit endpoints, on SQLite and PostgreSQL."""

from tests.conftest import Accounts


def test_me(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    for role in ("admin", "scientist", "viewer"):
        me = client.get("/api/v1/me", headers=accounts.headers(role)).json()
        assert me == {"name": f"{role}1", "role": role, "via": "token"}


def test_admin_manages_users(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    admin = accounts.headers("admin")
    made = client.post(
        "/api/v1/users",
        headers=admin,
        json={"name": "grace", "role": "viewer", "password": "p" * 12},
    )
    assert made.status_code == 201 and made.json()["role"] == "viewer"
    assert "password" not in str(made.json()).replace("has_password", "")
    changed = client.patch(
        "/api/v1/users/grace", headers=admin, json={"role": "scientist", "disabled": True}
    )
    assert changed.json()["role"] == "scientist" and changed.json()["disabled"] is True
    names = [u["name"] for u in client.get("/api/v1/users", headers=admin).json()]
    assert "grace" in names
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()]
    assert actions[:2] == ["user.update", "user.create"]


def test_bad_user_input_is_a_clear_422(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    admin = accounts.headers("admin")
    bad_role = client.post(
        "/api/v1/users", headers=admin, json={"name": "x", "role": "root", "password": "p" * 12}
    )
    assert bad_role.status_code == 422 and "role 'root' does not exist" in bad_role.json()["detail"]
    missing = client.post("/api/v1/users", headers=admin, json={"name": "x"})
    assert missing.status_code == 422 and "body.role: Field required" in missing.json()["detail"]
    extra = client.post(
        "/api/v1/users",
        headers=admin,
        json={"name": "x", "role": "viewer", "password": "p" * 12, "admin": 1},
    )
    assert extra.status_code == 422 and "body.admin" in extra.json()["detail"]
    unknown = client.patch("/api/v1/users/zed", headers=admin, json={"role": "viewer"})
    assert unknown.status_code == 404


def test_tokens_shown_once_used_and_revoked(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    made = client.post("/api/v1/tokens", headers=sci, json={"name": "laptop", "days": 7})
    assert made.status_code == 201
    token = made.json()["token"]
    listed = client.get("/api/v1/tokens", headers=sci).json()
    assert {t["name"] for t in listed} == {"test", "laptop"}
    assert token not in str(listed)
    new = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=new).json()["name"] == "scientist1"
    revoked = client.delete(f"/api/v1/tokens/{made.json()['key']}", headers=sci)
    assert revoked.json()["active"] is False
    assert client.get("/api/v1/me", headers=new).status_code == 401


def test_scientists_cannot_touch_others_tokens(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    admin_tokens = client.get("/api/v1/tokens", headers=accounts.headers("admin")).json()
    key = admin_tokens[0]["key"]
    assert (
        client.delete(f"/api/v1/tokens/{key}", headers=accounts.headers("scientist")).status_code
        == 404
    )
    every = client.get("/api/v1/tokens?all=true", headers=accounts.headers("admin")).json()
    assert len(every) == 3
    mine = client.get("/api/v1/tokens?all=true", headers=accounts.headers("scientist")).json()
    assert [t["user"] for t in mine] == ["scientist1"]


def test_token_use_and_rejection_are_audited(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    client.get("/api/v1/me", headers=accounts.headers("viewer"))
    client.get("/api/v1/me", headers={"Authorization": "Bearer atl_1_2"})
    actions = {(e.action, e.actor, e.success) for e in workbench.audit.entries()}
    assert ("token.used", "viewer1", True) in actions
    assert ("token.rejected", None, False) in actions


def test_openapi_document(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json", headers=accounts.headers("scientist")).json()
    assert "/api/v1/me" in doc["paths"] and "/api/v1/tokens" in doc["paths"]
    assert not any(path.startswith("/admin") for path in doc["paths"])
