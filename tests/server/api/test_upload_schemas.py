"""Uploads land in the schema the uploader chooses, if it is theirs to write: ``main``, their
own ``user_<name>``, their projects' schemas. Attacks: another user's schema, a project one is
not a member of, a viewer, a code token without the data scope, bad schema names, a name and a
schema that disagree; each refused before anything is written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from atelier.backends.metadata.models import ProjectMember, ProjectRecord
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

CSV = b"id,amount\n1,10.5\n2,20.25\n"


def _project(wb: Workbench, name: str, *members: str) -> None:
    with wb.db.session() as session:
        record = ProjectRecord(name=name, path=f"/nowhere/{name}", created_by=members[0])
        session.add(record)
        session.flush()
        for i, member in enumerate(members):
            user = wb.users.get(member)
            role = "owner" if i == 0 else "editor"
            session.add(ProjectMember(project_id=record.id, user_id=user.id, role=role))
        session.commit()


def _send(client, headers, name: str, schema: str | None = None):  # type: ignore[no-untyped-def]
    data = {"name": name, "options": json.dumps({})}
    if schema is not None:
        data["schema"] = schema
    return client.post(
        "/api/v1/uploads",
        headers=headers,
        files={"file": ("t.csv", CSV, "text/csv")},
        data=data,
    )


def _tables(wb: Workbench) -> set[str]:
    with wb.warehouse.connect() as con:
        rows = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            f"WHERE database_name = '{wb.warehouse.alias}'"
        ).fetchall()
    return {r[0] for r in rows}


def test_uploads_go_where_allowed(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    wb = workbench
    wb.users.create("sam", "scientist", PASSWORD)
    sam = {"Authorization": f"Bearer {wb.tokens.create('sam', 'test', 1)[1]}"}
    _project(wb, "churn-sam", "sam")
    _project(wb, "fraud", "admin1")
    scientist = accounts.headers("scientist")

    # Allowed: main (as before), one's own schema, one's project's schema, an old shared one.
    assert _send(client, scientist, "a").json()["table"] == "main.a"
    assert _send(client, scientist, "b", "user_scientist1").json()["table"] == "user_scientist1.b"
    assert _send(client, sam, "c", "churn_sam").json()["table"] == "churn_sam.c"
    assert _send(client, sam, "churn_sam.d").json()["table"] == "churn_sam.d"
    assert _send(client, scientist, "finance.e").status_code == 201
    # Admins write anywhere.
    assert _send(client, accounts.headers("admin"), "f", "user_sam").status_code == 201
    before = _tables(wb)

    attacks = [
        (scientist, "x", "user_sam", 403, "personal schema of sam"),
        (scientist, "user_sam.x", None, 403, "personal schema of sam"),
        (scientist, "x", "USER_SAM", 403, "personal schema of sam"),
        (scientist, "x", "user_nobody", 403, "are personal"),
        (scientist, "x", "churn_sam", 403, "belongs to project 'churn-sam'"),
        (sam, "x", "fraud", 403, "belongs to project 'fraud'"),
        (accounts.headers("viewer"), "x", "main", 403, "viewer"),
        (scientist, "x", "../etc", 422, "schema '../etc' is not valid"),
        (scientist, "x", "a;drop", 422, "is not valid"),
        (scientist, "main.x", "user_scientist1", 422, "names schema 'main'"),
        (scientist, "x", "information_schema", 422, "reserved"),
    ]
    for headers, name, schema, status, why in attacks:
        response = _send(client, headers, name, schema)
        assert response.status_code == status, (name, schema, response.text)
        assert why in response.json()["detail"], (name, schema, response.text)
    assert _tables(wb) == before  # nothing written by a refused upload


def test_a_refused_upload_stores_no_byte(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    """The target is checked before the file is received: as a form whose fields come first,
    and as an Arrow stream named in the query. A reader of a project writes none of its data."""
    import io

    import pyarrow as pa

    wb = workbench
    wb.users.create("sam", "scientist", PASSWORD)
    _project(wb, "churn-sam", "sam")
    with wb.db.session() as session:
        record = session.scalar(select(ProjectRecord).where(ProjectRecord.name == "churn-sam"))
        user = wb.users.get("scientist1")
        session.add(ProjectMember(project_id=record.id, user_id=user.id, role="reader"))
        session.commit()
    scientist = accounts.headers("scientist")
    inbox = wb.ingest.inbox.directory
    stored = lambda: sorted(p.name for p in inbox.rglob("*") if p.is_file())  # noqa: E731
    before = stored()
    refused = _send(client, scientist, "x", "churn_sam")
    assert refused.status_code == 403 and "owners and editors" in refused.json()["detail"]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, pa.schema([("a", pa.int64())])) as writer:
        writer.write_table(pa.table({"a": [1, 2]}))
    arrow = client.post(
        "/api/v1/uploads",
        params={"name": "x", "schema": "user_sam"},
        headers=scientist | {"Content-Type": "application/vnd.apache.arrow.stream"},
        content=sink.getvalue(),
    )
    assert arrow.status_code == 403 and "personal schema of sam" in arrow.json()["detail"]
    assert stored() == before


def test_code_tokens_need_the_data_scope_and_keep_the_rule(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    wb = workbench
    wb.users.create("sam", "scientist", PASSWORD)
    from datetime import timedelta

    scoped = wb.tokens.create_for("scientist1", "job 1", frozenset({"data"}), timedelta(hours=1))[1]
    headers = {"Authorization": f"Bearer {scoped}"}
    assert _send(client, headers, "mine", "user_scientist1").status_code == 201
    refused = _send(client, headers, "theirs", "user_sam")
    assert refused.status_code == 403 and "personal schema of sam" in refused.json()["detail"]


def test_the_portal_offers_ones_schemas(workbench: Workbench) -> None:
    wb = workbench
    user = wb.users.create("sam", "scientist", PASSWORD)
    _project(wb, "churn-sam", "sam")
    _project(wb, "fraud", "sam")
    _project(wb, "other", "sam")
    with wb.db.session() as session:  # sam leaves "other"
        session.query(ProjectMember).filter(
            ProjectMember.project_id
            == session.query(ProjectRecord.id)
            .filter(ProjectRecord.name == "other")
            .scalar_subquery()
        ).delete(synchronize_session=False)
        session.commit()
    sam = Principal(user.id, "sam", "scientist", "session")
    offered = [(c.schema, c.kind) for c in wb.ingest.schemas(sam)]
    assert offered == [
        ("main", "shared"),
        ("user_sam", "personal"),
        ("churn_sam", "project"),
        ("fraud", "project"),
    ]


def test_names_that_map_to_one_schema_belong_to_neither(workbench: Workbench) -> None:
    from atelier.errors import PermissionDenied
    from atelier.services.ingest.schemas import check_write

    wb = workbench
    for name in ("ada.lee", "ada-lee"):
        wb.users.create(name, "scientist", PASSWORD)
    for name in ("ada.lee", "ada-lee"):
        who = Principal(wb.users.get(name).id, name, "scientist", "token")
        with pytest.raises(PermissionDenied, match=r"personal schema of ada-lee and ada\.lee"):
            check_write(wb.db, who, "user_ada_lee")
