"""The uploads API in-process: preview then commit by id, one-shot uploads, Arrow streams,
errors that name the place, nothing left behind, roles and CSRF."""

from __future__ import annotations

import json
import re

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

SALES = b"id,customer,amount\n1,ada,10.5\n2,bob,20.25\n"


def inbox_ids(workbench: Workbench) -> list[str]:
    folder = workbench.ingest.inbox.directory
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_preview_then_create_by_id(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    headers = accounts.headers("scientist")
    preview = client.post(
        "/api/v1/uploads/preview",
        headers=headers,
        files={"file": ("Sales 2024.csv", SALES, "text/csv")},
        data={"options": "{}"},
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["file"] == "Sales 2024.csv" and body["format"] == "csv"
    assert body["options"]["delimiter"] == "," and body["options"]["header"] is True
    assert body["columns"] == [
        {"name": "id", "type": "BIGINT"},
        {"name": "customer", "type": "VARCHAR"},
        {"name": "amount", "type": "DOUBLE"},
    ]
    assert body["rows"] == [["1", "ada", "10.5"], ["2", "bob", "20.25"]]
    assert inbox_ids(workbench) == [body["upload_id"]]

    again = client.post(
        "/api/v1/uploads/preview",
        headers=headers,
        data={"upload_id": body["upload_id"], "options": json.dumps({"types": {"id": "VARCHAR"}})},
    )
    assert again.json()["columns"][0] == {"name": "id", "type": "VARCHAR"}

    created = client.post(
        "/api/v1/uploads",
        headers=headers,
        data={
            "upload_id": body["upload_id"],
            "name": "sales",
            "mode": "create",
            "options": json.dumps({"types": {"amount": "DECIMAL(10,2)"}}),
        },
    )
    assert created.status_code == 201, created.text
    result = created.json()
    assert (result["table"], result["rows"], result["mode"]) == ("main.sales", 2, "create")
    assert result["columns"][2] == {"name": "amount", "type": "DECIMAL(10,2)"}
    snapshots = workbench.warehouse.snapshots("sales")
    assert [(s.snapshot_id, s.author, s.message) for s in snapshots] == [
        (result["version"], "scientist1", "upload Sales 2024.csv")
    ]
    assert inbox_ids(workbench) == []
    used = client.post(
        "/api/v1/uploads",
        headers=headers,
        data={"upload_id": body["upload_id"], "name": "sales2"},
    )
    assert used.status_code == 404 and "send the file again" in used.json()["detail"]


def test_one_shot_upload_and_append(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    headers = accounts.headers("admin")
    first = client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": ("s.csv", SALES)},
        data={"name": "finance.sales"},
    )
    assert first.status_code == 201, first.text
    more = client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": ("more.csv", b"amount,customer,id\n1,cyd,3\n")},
        data={"name": "finance.sales", "mode": "append"},
    )
    assert more.status_code == 201 and more.json()["version"] > first.json()["version"]
    table = workbench.warehouse.read("sales", schema="finance")
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]
    old = workbench.warehouse.read("sales", schema="finance", version=first.json()["version"])
    assert old.num_rows == 2
    assert inbox_ids(workbench) == []


def test_errors_name_file_line_and_column_and_leave_nothing(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    headers = accounts.headers("scientist")
    lines = ["id,amount"] + [f"{i},{'x' if i == 4999 else i}" for i in range(1, 6000)]
    bad = ("big.csv", ("\n".join(lines) + "\n").encode())
    failed = client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": bad},
        data={"name": "big", "options": json.dumps({"types": {"amount": "INTEGER"}})},
    )
    assert failed.status_code == 422
    assert failed.json()["detail"].startswith(
        "big.csv: line 5000, column 2 (amount): 'x' is not a valid INTEGER"
    )
    assert workbench.warehouse.tables() == [] and inbox_ids(workbench) == []

    preview = client.post(
        "/api/v1/uploads/preview",
        headers=headers,
        files={"file": ("r.csv", b"a,b,c\n1,2,3\n4,5\n")},
    )
    assert preview.status_code == 422
    assert preview.json()["detail"].startswith("r.csv: line 3: expected 3 columns, found 2")
    kept = preview.json()["upload_id"]
    assert inbox_ids(workbench) == [kept]
    commit = client.post("/api/v1/uploads", headers=headers, data={"upload_id": kept, "name": "r"})
    assert commit.status_code == 422 and inbox_ids(workbench) == [kept]
    assert client.delete(f"/api/v1/uploads/{kept}", headers=headers).status_code == 204
    assert inbox_ids(workbench) == []

    for files, data, status, message in [
        ({"file": ("x.docx", b"x")}, {"name": "x"}, 422, "x.docx: unsupported file type '.docx'"),
        ({"file": ("e.csv", b"")}, {"name": "x"}, 422, "e.csv: the file is empty"),
        ({"file": ("a.csv", SALES)}, {"name": "bad name"}, 422, "table name 'bad name'"),
        ({"file": ("a.csv", SALES)}, {}, 422, "the upload needs a table name"),
        ({"file": ("a.csv", SALES)}, {"name": "x", "options": "[1]"}, 422, "options must be"),
        (None, {"name": "x"}, 422, "the form has no 'file'"),
    ]:
        answer = client.post("/api/v1/uploads", headers=headers, files=files, data=data)
        assert answer.status_code == status, answer.text
        assert message in answer.json()["detail"]
    answer = client.post("/api/v1/uploads", headers=headers, content=b"{}")
    assert answer.status_code == 422 and "multipart/form-data" in answer.json()["detail"]
    # A body cut short is refused, not loaded as a shorter file, and what arrived is dropped.
    whole = client.build_request(
        "POST", "/api/v1/uploads", files={"file": ("a.csv", SALES)}, data={"name": "cut"}
    )
    body = whole.read()
    cut = client.post(
        "/api/v1/uploads",
        headers={**headers, "Content-Type": whole.headers["Content-Type"]},
        content=body[: body.rindex(b"\r\n--")],
    )
    assert cut.status_code == 422 and "ends before its closing boundary" in cut.text
    assert inbox_ids(workbench) == []
    # The name a client gives its file never leaves the inbox.
    escaped = client.post(
        "/api/v1/uploads/preview", headers=headers, files={"file": ("../../up.csv", SALES)}
    )
    assert escaped.status_code == 200, escaped.text
    kept = workbench.ingest.inbox.get(escaped.json()["upload_id"], "scientist1").path
    assert kept.parent.parent == workbench.ingest.inbox.directory
    assert client.delete(f"/api/v1/uploads/{escaped.json()['upload_id']}", headers=headers)
    assert inbox_ids(workbench) == []

    client.post(
        "/api/v1/uploads", headers=headers, files={"file": ("a.csv", SALES)}, data={"name": "t"}
    )
    again = client.post(
        "/api/v1/uploads", headers=headers, files={"file": ("a.csv", SALES)}, data={"name": "t"}
    )
    assert again.status_code == 409 and "already exists" in again.json()["detail"]


def test_arrow_stream_bodies(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa

    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1)
    response = client.post(
        "/api/v1/uploads?name=frames&mode=replace",
        headers={
            **accounts.headers("scientist"),
            "Content-Type": "application/vnd.apache.arrow.stream",
        },
        content=sink.getvalue().to_pybytes(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 3
    assert workbench.warehouse.read("frames").to_pylist()[2] == {"id": 3, "name": None}
    assert workbench.warehouse.snapshots("frames")[0].message == "upload DataFrame"
    broken = client.post(
        "/api/v1/uploads?name=frames2",
        headers={
            **accounts.headers("scientist"),
            "Content-Type": "application/vnd.apache.arrow.stream",
        },
        content=b"not arrow at all",
    )
    assert broken.status_code == 422 and "not a readable Arrow IPC" in broken.json()["detail"]
    assert inbox_ids(workbench) == []


def test_roles_and_owners(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    files = {"file": ("a.csv", SALES)}
    assert client.post("/api/v1/uploads", files=files, data={"name": "x"}).status_code == 401
    viewer = client.post(
        "/api/v1/uploads", headers=accounts.headers("viewer"), files=files, data={"name": "x"}
    )
    assert viewer.status_code == 403
    preview = client.post(
        "/api/v1/uploads/preview", headers=accounts.headers("scientist"), files=files
    ).json()
    other = client.post(
        "/api/v1/uploads",
        headers=accounts.headers("admin"),
        data={"upload_id": preview["upload_id"], "name": "x"},
    )
    assert other.status_code == 404
    assert workbench.warehouse.tables() == []


def login(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    client.post(
        "/login",
        data={"name": "scientist1", "password": PASSWORD, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    home = client.get("/", headers={"Accept": "text/html"})
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text)
    assert token
    return token.group(1)


@pytest.mark.parametrize("how", ["header", "form field"])
def test_sessions_need_the_csrf_token(
    client, accounts: Accounts, workbench: Workbench, how: str
) -> None:  # type: ignore[no-untyped-def]
    token = login(client)
    files = {"file": ("a.csv", SALES)}
    refused = client.post("/api/v1/uploads", files=files, data={"name": "s"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    if how == "header":
        done = client.post(
            "/api/v1/uploads", files=files, data={"name": "s"}, headers={"X-CSRF-Token": token}
        )
    else:
        done = client.post("/api/v1/uploads", files=files, data={"name": "s", "csrf_token": token})
    assert done.status_code == 201, done.text
    assert workbench.warehouse.snapshots("s")[0].author == "scientist1"
    assert inbox_ids(workbench) == []


def test_ragged_and_binary_files_over_http(
    client, accounts: Accounts, workbench: Workbench
) -> None:  # type: ignore[no-untyped-def]
    headers = accounts.headers("scientist")
    ragged = ("r.csv", b"a;b\n1;2,5\n2\n3;4;5\n4;0,5\n")
    skipped = client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": ragged},
        data={"name": "r", "options": json.dumps({"ragged": "skip"})},
    )
    assert skipped.status_code == 201, skipped.text
    assert (skipped.json()["rows"], skipped.json()["skipped"]) == (2, 2)
    assert workbench.warehouse.read("r").to_pylist() == [{"a": 1, "b": 2.5}, {"a": 4, "b": 0.5}]

    for name, data, message in [
        ("png.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "png.csv: the file is a PNG image"),
        ("z.csv", b"\x1f\x8b\x08\x00" + bytes(20), "z.csv: the file is gzip-compressed"),
        ("r2.csv", ragged[1], "r2.csv: line 3: expected 2 columns, found 1"),
    ]:
        refused = client.post(
            "/api/v1/uploads", headers=headers, files={"file": (name, data)}, data={"name": "x"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith(message), refused.text
    bad = client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": ragged},
        data={"name": "x", "options": json.dumps({"ragged": "fill"})},
    )
    assert bad.status_code == 422 and "option ragged 'fill'" in bad.json()["detail"]
    assert [t.name for t in workbench.warehouse.tables()] == ["r"] and inbox_ids(workbench) == []
