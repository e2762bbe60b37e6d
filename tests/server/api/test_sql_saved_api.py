"""The SQL editor's routes: the schema tree, saved queries over the API and the page, and the
attacks on them (another user, a viewer, bad names)."""

from __future__ import annotations

import re

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

HTML = {"Accept": "text/html"}

# The rules are the service's, tested on both metadata databases there; one is enough here.
pytestmark = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@pytest.fixture
def bob(workbench: Workbench) -> dict[str, str]:
    """A second scientist."""
    workbench.users.create("bob", "scientist", PASSWORD)
    return {"Authorization": f"Bearer {workbench.tokens.create('bob', 'test', 1)[1]}"}


def test_saved_queries_api_rules(client, accounts: Accounts, bob: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    sci, admin, viewer = (accounts.headers(r) for r in ("scientist", "admin", "viewer"))
    made = client.post(
        "/api/v1/sql/saved", json={"name": "report", "sql": "SELECT 1", "shared": True}, headers=sci
    )
    assert made.status_code == 201, made.text
    shared = made.json()
    assert (shared["owner"], shared["shared"]) == ("scientist1", True)
    private = client.post(
        "/api/v1/sql/saved", json={"name": "draft", "sql": "SELECT 2"}, headers=sci
    ).json()

    # Another scientist sees the shared one only, and changes neither.
    listed = client.get("/api/v1/sql/saved", headers=bob).json()
    assert [q["name"] for q in listed] == ["report"]
    assert client.get(f"/api/v1/sql/saved/{private['id']}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/sql/saved/{private['id']}", headers=bob).status_code == 404
    refused = client.patch(f"/api/v1/sql/saved/{shared['id']}", json={"sql": "x"}, headers=bob)
    assert refused.status_code == 403 and "only its owner or an admin" in refused.text
    assert client.delete(f"/api/v1/sql/saved/{shared['id']}", headers=bob).status_code == 403
    assert client.get(f"/api/v1/sql/saved/{shared['id']}", headers=sci).json()["sql"] == "SELECT 1"

    # Viewers have no SQL page, so no saved queries and no schema tree.
    assert client.get("/api/v1/sql/saved", headers=viewer).status_code == 403
    assert client.get("/api/v1/sql/schema", headers=viewer).status_code == 403
    assert (
        client.post("/api/v1/sql/saved", json={"name": "v", "sql": "SELECT 1"}, headers=viewer)
    ).status_code == 403

    # Bad input: one clear line, nothing written.
    bad = client.post("/api/v1/sql/saved", json={"name": "a\nb", "sql": "SELECT 1"}, headers=sci)
    assert bad.status_code == 422 and "control character" in bad.text
    twice = client.post("/api/v1/sql/saved", json={"name": "report", "sql": "S"}, headers=sci)
    assert twice.status_code == 409 and "'report' already exists" in twice.text
    extra = client.post(
        "/api/v1/sql/saved", json={"name": "n", "sql": "S", "owner": "bob"}, headers=sci
    )
    assert extra.status_code == 422
    assert [q["name"] for q in client.get("/api/v1/sql/saved", headers=sci).json()] == [
        "draft",
        "report",
    ]

    # The owner and admins change and delete.
    unshared = client.patch(
        f"/api/v1/sql/saved/{shared['id']}", json={"shared": False}, headers=admin
    )
    assert unshared.status_code == 200 and unshared.json()["shared"] is False
    assert client.get("/api/v1/sql/saved", headers=bob).json() == []
    assert client.delete(f"/api/v1/sql/saved/{private['id']}", headers=sci).status_code == 204
    assert client.get(f"/api/v1/sql/saved/{private['id']}", headers=sci).status_code == 404


def test_schema_lists_tables_and_columns(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers (id INTEGER, email VARCHAR)"
        ),
        author="scientist1",
    )
    # Personal data is masked in values, never in names: the column is listed.
    workbench.pii_tags.suggest("bank.customers", ["id", "email"])
    answer = client.get("/api/v1/sql/schema", headers=accounts.headers("scientist"))
    assert answer.status_code == 200
    assert answer.json() == {
        "schemas": [
            {
                "name": "bank",
                "tables": [
                    {
                        "name": "customers",
                        "kind": "table",
                        "columns": [
                            {"name": "id", "type": "INTEGER"},
                            {"name": "email", "type": "VARCHAR"},
                        ],
                    }
                ],
            }
        ]
    }


def test_page_saves_opens_and_deletes(client, accounts: Accounts, bob: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    sci = {**HTML, **accounts.headers("scientist")}
    bobs = {**HTML, **bob}
    empty = client.get("/data/sql", headers=sci)
    assert "No saved queries yet" in empty.text
    assert 'src="/static/codemirror.min.js"' in empty.text
    assert client.get("/static/codemirror.min.js").status_code == 200

    # Without scripts: the form posts, the page comes back with the query open.
    saved = client.post(
        "/data/sql/save",
        data={"sql": "SELECT 42 AS answer", "name": "answer"},
        headers=sci,
        follow_redirects=False,
    )
    assert saved.status_code == 303
    location = saved.headers["location"]
    assert re.fullmatch(r"/data/sql\?saved=\d+", location)
    opened = client.get(location, headers=sci)
    assert "SELECT 42 AS answer</textarea>" in opened.text
    assert 'value="answer"' in opened.text and ">answer</a>" in opened.text

    # Bob does not see it (unshared), cannot open it nor delete it.
    assert ">answer</a>" not in client.get("/data/sql", headers=bobs).text
    missing = client.get(location, headers=bobs)
    assert missing.status_code == 404 and "SELECT 42" not in missing.text
    saved_id = location.rsplit("=", 1)[1]
    gone = client.post(f"/data/sql/saved/{saved_id}/delete", headers=bobs, follow_redirects=False)
    assert gone.status_code == 404

    # HTMX: the list comes back; shared now, so Bob sees it but gets no delete button.
    fragment = client.post(
        "/data/sql/save",
        data={"sql": "SELECT 42 AS answer", "name": "answer", "shared": "1"},
        headers={**sci, "HX-Request": "true"},
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert '<span class="badge">shared</span>' in fragment.text
    bobs_page = client.get("/data/sql", headers=bobs).text
    assert ">answer</a>" in bobs_page and "by scientist1" in bobs_page
    assert f"/data/sql/saved/{saved_id}/delete" not in bobs_page
    refused = client.post(f"/data/sql/saved/{saved_id}/delete", headers=bobs)
    assert refused.status_code == 403 and "only its owner or an admin" in refused.text

    bad = client.post(
        "/data/sql/save", data={"sql": "SELECT 1", "name": ""}, headers={**sci, "HX-Request": "1"}
    )
    assert (
        bad.status_code == 422
        and bad.text == "Not saved: query name is empty: give the query a name"
    )
    bad_page = client.post("/data/sql/save", data={"sql": "SELECT 1", "name": " "}, headers=sci)
    assert bad_page.status_code == 422 and "SELECT 1</textarea>" in bad_page.text

    # Viewers: no page, no saving.
    viewer = {**HTML, **accounts.headers("viewer")}
    assert (
        client.post("/data/sql/save", data={"sql": "S", "name": "v"}, headers=viewer).status_code
        == 403
    )

    deleted = client.post(f"/data/sql/saved/{saved_id}/delete", headers=sci, follow_redirects=False)
    assert deleted.status_code == 303
    assert ">answer</a>" not in client.get("/data/sql", headers=sci).text


def test_history_on_the_page_is_the_users_own(
    client, accounts: Accounts, bob: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    client.post(
        "/data/sql/run",
        data={"sql": "SELECT 'ada-secret' AS s"},
        headers={**HTML, **accounts.headers("scientist")},
    )
    mine = client.get("/data/sql", headers={**HTML, **accounts.headers("scientist")}).text
    assert "ada-secret" in mine
    theirs = client.get("/data/sql", headers={**HTML, **bob}).text
    assert "ada-secret" not in theirs and "No queries yet." in theirs
