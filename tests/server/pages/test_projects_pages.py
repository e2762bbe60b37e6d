"""The project pages: list and create, members, packages with uv's error inline."""

from __future__ import annotations

from tests.conftest import Accounts


def test_project_pages(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    sci, admin = accounts.headers("scientist"), accounts.headers("admin")
    htmx = sci | {"HX-Request": "true"}
    empty = client.get("/projects", headers=sci)
    assert empty.status_code == 200 and "No projects yet." in empty.text
    assert client.get("/projects", headers=accounts.headers("viewer")).status_code == 403

    bad = client.post("/projects", headers=sci, data={"name": "Bad Name"})
    assert bad.status_code == 422 and "project name &#39;Bad Name&#39;" in bad.text
    made = client.post(
        "/projects", headers=htmx, data={"name": "churn", "description": "Churn study"}
    )
    assert made.status_code == 200 and made.headers["HX-Redirect"] == "/projects/churn"
    listed = client.get("/projects", headers=sci).text
    assert 'data-project="churn"' in listed and "Churn study" in listed

    page = client.get("/projects/churn", headers=sci).text
    assert 'href="/notebooks/lab/tree/churn/notebooks/start.ipynb"' in page
    assert 'data-package="ipykernel"' in page and 'data-member="scientist1"' in page

    failed = client.post("/projects/churn/env/add", headers=htmx, data={"packages": "six==0.0.1"})
    assert failed.status_code == 200 and 'data-testid="env-error"' in failed.text
    assert "there is no version of six==0.0.1" in failed.text
    assert failed.text.lstrip().startswith('<section id="env">')
    added = client.post("/projects/churn/env/add", headers=htmx, data={"packages": "six==1.17.0"})
    assert 'data-package="six"' in added.text and "1.17.0" in added.text
    assert "env-error" not in added.text

    # The admin sees the page but is no member: members are managed by owners and admins.
    members = client.post("/projects/churn/members", headers=admin, data={"user": "viewer1"})
    assert members.status_code == 422 and "viewer1 is a viewer" in members.text
    # Roles are managed on the page: a reader sees the project but no form that changes it.
    workbench.users.create("reader1", "scientist", "correct horse battery")
    reader = {"Authorization": f"Bearer {workbench.tokens.create('reader1', 't', 1)[1]}"}
    made_reader = client.post(
        "/projects/churn/members", headers=htmx, data={"user": "reader1", "role": "reader"}
    )
    assert 'aria-label="Role of reader1"' in made_reader.text
    assert "<option selected>reader</option>" in made_reader.text
    as_reader = client.get("/projects/churn", headers=reader).text
    assert 'data-member="reader1"' in as_reader and "/env/add" not in as_reader
    refused = client.post("/projects/churn/env/add", headers=reader, data={"packages": "six"})
    assert refused.status_code == 403 and "reader1 is a reader" in refused.text
    removed = client.post("/projects/churn/env/remove", headers=htmx, data={"packages": "six"})
    assert 'data-package="six"' not in removed.text
    assert client.get("/projects/nope", headers=sci).status_code == 404
