"""The projects API: create, members, environments; scientists and admins only."""

from tests.conftest import Accounts


def test_viewers_may_not_use_projects(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    viewer = accounts.headers("viewer")
    assert client.get("/api/v1/projects", headers=viewer).status_code == 403
    made = client.post("/api/v1/projects", headers=viewer, json={"name": "x"})
    assert made.status_code == 403
    env = client.post("/api/v1/projects/x/env", headers=viewer, json={"packages": ["six"]})
    assert env.status_code == 403
    assert client.get("/api/v1/projects").status_code == 401
    assert client.get("/api/v1/projects", headers=accounts.headers("scientist")).json() == []


def test_projects_members_and_environment(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    sci, admin = accounts.headers("scientist"), accounts.headers("admin")
    made = client.post(
        "/api/v1/projects", headers=sci, json={"name": "churn", "description": "Churn"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "owner" and made.json()["python"].endswith("/.venv/bin/python")
    assert client.post("/api/v1/projects", headers=sci, json={"name": "churn"}).status_code == 409
    bad = client.post("/api/v1/projects", headers=sci, json={"name": "Churn!"})
    assert bad.status_code == 422 and "project name 'Churn!'" in bad.json()["detail"]
    listed = client.get("/api/v1/projects", headers=admin).json()
    assert [(p["name"], p["role"]) for p in listed] == [("churn", None)]

    added = client.post(
        "/api/v1/projects/churn/env", headers=sci, json={"packages": ["six==1.16.0"]}
    )
    assert added.status_code == 200, added.text
    assert {"name": "six", "version": "1.16.0", "direct": True} in added.json()["packages"]
    failed = client.post(
        "/api/v1/projects/churn/env",
        headers=sci,
        json={"packages": ["atelier-no-such-package-xyz"]},
    )
    assert failed.status_code == 422
    assert (
        "atelier-no-such-package-xyz was not found in the package registry"
        in failed.json()["detail"]
    )
    shown = client.get("/api/v1/projects/churn/env", headers=admin).json()
    assert shown["requirements"] == ["ipykernel", "six==1.16.0"]

    # The admin is not a member but may change it; another scientist may not until added.
    client.post(
        "/api/v1/users",
        headers=admin,
        json={"name": "ada", "role": "scientist", "password": "p" * 12},
    )
    ada = {"Authorization": f"Bearer {workbench.tokens.create('ada', 't', 1)[1]}"}
    denied = client.post("/api/v1/projects/churn/env", headers=ada, json={"packages": ["six"]})
    assert denied.status_code == 403 and "ada is not a member" in denied.json()["detail"]
    denied = client.post("/api/v1/projects/churn/members", headers=ada, json={"user": "ada"})
    assert denied.status_code == 403
    members = client.post("/api/v1/projects/churn/members", headers=sci, json={"user": "ada"})
    assert members.status_code == 201 and [m["name"] for m in members.json()] == [
        "scientist1",
        "ada",
    ]
    removed = client.request(
        "DELETE", "/api/v1/projects/churn/env", headers=admin, json={"packages": ["six"]}
    )
    assert removed.status_code == 200 and removed.json()["requirements"] == ["ipykernel"]
    assert client.delete("/api/v1/projects/churn/members/ada", headers=sci).status_code == 204
    assert [
        m["name"] for m in client.get("/api/v1/projects/churn/members", headers=sci).json()
    ] == ["scientist1"]
    assert client.get("/api/v1/projects/nope", headers=sci).status_code == 404

    audit = [(e["action"], e["success"]) for e in client.get("/api/v1/audit", headers=admin).json()]
    for expected in [
        ("project.create", True),
        ("project.env.add", True),
        ("project.env.add", False),
        ("project.member.add", True),
        ("project.env.remove", True),
        ("project.member.remove", True),
    ]:
        assert expected in audit
