"""The projects API: create, members, environments; scientists and admins only."""

import pytest

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


# Files more than metadata: one metadata database is enough (the others test both).
@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)
def test_pull_and_push_are_for_members_not_for_code(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    """Unknown callers, viewers, scientists outside the project and code tokens (a job's,
    even its owner's) are refused before the body is read; a member pulls and pushes."""
    import io
    import tarfile
    from datetime import timedelta

    from atelier.services.auth import scopes

    sci, viewer = accounts.headers("scientist"), accounts.headers("viewer")
    assert client.post("/api/v1/projects", headers=sci, json={"name": "lab"}).status_code == 201
    workbench.users.create("eve", "scientist", "p" * 12)
    eve = {"Authorization": f"Bearer {workbench.tokens.create('eve', 't', 1)[1]}"}
    job = workbench.tokens.create_for("scientist1", "job 1", scopes.WORK, timedelta(hours=1))[1]
    code = {"Authorization": f"Bearer {job}"}

    def tree(name: str, content: bytes) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        return buffer.getvalue()

    url = "/api/v1/projects/lab/files"
    body = tree("src/a.py", b"A = 1\n")
    gzip = {"Content-Type": "application/gzip"}
    assert client.get(url).status_code == 401
    assert client.post(url, content=body, headers=gzip).status_code == 401
    for headers, status in ((viewer, 403), (eve, 403), (code, 403)):
        assert client.get(url, headers=headers).status_code == status
        refused = client.post(url, content=body, headers={**headers, **gzip})
        assert refused.status_code == status, refused.text
    assert "eve is not a member of project 'lab'" in client.get(url, headers=eve).json()["detail"]

    pulled = client.get(url, headers=sci)
    assert pulled.status_code == 200 and pulled.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(pulled.content), mode="r:gz") as tar:
        assert "uv.lock" in tar.getnames() and not any(".venv" in n for n in tar.getnames())
    pushed = client.post(url, content=body, headers={**sci, **gzip})
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["written"] == ["src/a.py"] and pushed.json()["environment"] == "unchanged"
    escape = client.post(url, content=tree("../../x.py", b""), headers={**sci, **gzip})
    assert escape.status_code == 422 and "stay inside the tree" in escape.json()["detail"]
    # Without a base, a file that differs from the server's is a conflict unless forced.
    changed = tree("src/a.py", b"A = 2\n")
    assert client.post(url, content=changed, headers={**sci, **gzip}).status_code == 409
    forced = client.post(url, params={"force": "true"}, content=changed, headers={**sci, **gzip})
    assert forced.status_code == 200 and forced.json()["written"] == ["src/a.py"]

    audit = [
        (e.actor, e.action, e.success)
        for e in workbench.audit.entries(limit=50)
        if e.action in ("project.pull", "project.push")
    ]
    for expected in [
        ("eve", "project.pull", False),
        ("eve", "project.push", False),
        ("scientist1", "project.pull", True),
        ("scientist1", "project.push", True),
        ("scientist1", "project.push", False),
    ]:
        assert expected in audit
