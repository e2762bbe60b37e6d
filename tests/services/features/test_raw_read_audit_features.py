"""Raw reads of personal data through the feature store are audited like SQL: one
``pii.raw_read`` entry per training set or online lookup that returns values computed from
tagged columns the person may read raw (a grant), naming the source tables and columns by
kind, the rows, where from and the training set or views; never a value. Masked reads record
nothing. Embedded (the store, the embedded SDK) and over the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from atelier.services.auth import Principal
from atelier.services.features import Definitions, Derived, Entity, FeatureView
from atelier.services.pii.audit import RAW_READ, RawReadAudit
from atelier.services.pii.grants import grants_of
from atelier.services.workbench import Workbench

PEOPLE = [
    (1, "Ann.Lee@Example.com", "Ann", "Lee", "gold"),
    (2, "Bob.Ray@Example.org", "Bob", "Ray", "silver"),
]
RAW = [p[1] for p in PEOPLE] + [p[1].lower() for p in PEOPLE] + ["Ann", "Bob", "Lee", "Ray"]
ENTITIES = pd.DataFrame({"id": [1, 2], "event_timestamp": pd.to_datetime(["2024-03-01"] * 2)})
FEATURES = ["contact:mail", "contact:full_name", "contact:segment"]
KEYS = {"id": [1, 2]}
ARROW = "application/vnd.apache.arrow.stream"
PASSWORD = "correct horse battery"
EMAIL = {"bank.customers": {"email": ["email"]}}
NAMES = {"bank.customers": {"person_name": ["first_name", "last_name"]}}
BOTH = {"bank.customers": {"email": ["email"], "person_name": ["first_name", "last_name"]}}


def who(wb: Workbench, name: str, via: str = "token") -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, via)  # type: ignore[arg-type]


def grant(wb: Workbench, user: str, **scope: Any) -> None:
    grants_of(wb).grant(who(wb, "ada"), user, reason="fraud case 9", days=1, **scope)


def raw_reads(wb: Workbench) -> list[dict[str, Any]]:
    """The raw-read entries, oldest first, each checked to hold no personal value."""
    entries = wb.audit.entries(limit=1000, action=RAW_READ)
    found = [
        {**(e.detail or {}), "actor": e.actor, "client": e.client, "target": e.target}
        for e in reversed(entries)
    ]
    text = json.dumps(found, default=str)
    for value in RAW:
        assert value not in text, f"{value} recorded in {text[:300]}"
    return found


def values(table: pa.Table, column: str) -> list[Any]:
    found: list[Any] = table.column(column).to_pylist()
    return found


@pytest.fixture
def bank(local: Workbench) -> Workbench:
    wb = local
    for name, role in (("ada", "admin"), ("sam", "scientist"), ("kim", "scientist")):
        wb.users.create(name, role, PASSWORD)
    wb.users.create("vic", "viewer", PASSWORD)
    rows = ", ".join(
        f"({i}, '{mail}', '{first}', '{last}', '{segment}', TIMESTAMP '2024-01-0{i}')"
        for i, mail, first, last, segment in PEOPLE
    )
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"{rows}) t(id, email, first_name, last_name, segment, signed); "
            "CREATE TABLE bank.notes AS SELECT * FROM (VALUES (1, 'Ann rang', "
            "TIMESTAMP '2024-01-01'), (2, 'Bob wrote', TIMESTAMP '2024-01-02')) t(id, memo, noted)"
        ),
        author="ada",
    )
    ada = who(wb, "ada")
    for column, kind in (("email", "email"), ("first_name", "person_name")):
        wb.pii_tags.confirm(ada, "bank.customers", column, kind)
    wb.pii_tags.confirm(ada, "bank.customers", "last_name", "person_name")
    wb.pii_tags.mark(ada, "bank.notes", personal=True)
    customer = Entity("customer", ["id"])
    contact = FeatureView(
        "contact",
        customer,
        "signed",
        source="bank.customers",
        features=[
            "segment",
            Derived("mail", sql="lower(email)"),
            Derived("full_name", sql="concat(first_name, ' ', last_name)"),
        ],
    )
    notes = FeatureView("notes", customer, "noted", source="bank.notes", features=["memo"])
    wb.features.apply(
        Definitions(entities=[customer], views=[contact, notes]), project="bank", by="ada"
    )
    return wb


def test_a_masked_training_set_records_nothing(bank: Workbench) -> None:
    wb = bank
    for name in ("sam", "ada"):  # admins are not exempt: no grant, masked, nothing raw
        training = wb.features.training_set(
            ENTITIES, FEATURES, principal=who(wb, name), remote=False
        )
        assert values(training.table, "mail") != [p[1].lower() for p in PEOPLE]
    # A grant that only opens the table on the server: a remote read is masked.
    grant(wb, "sam", table="bank.customers")
    wb.features.training_set(ENTITIES, FEATURES, principal=who(wb, "sam"), remote=True)
    # Features computed from no tagged column read nothing raw, grant or not.
    wb.features.training_set(ENTITIES, ["contact:segment"], principal=who(wb, "sam"))
    wb.features.training_set(ENTITIES, ["contact:segment"], principal=who(wb, "sam"), remote=False)
    # No principal: masked for everyone.
    wb.features.training_set(ENTITIES, FEATURES, by="sam")
    assert raw_reads(wb) == []


def test_a_raw_training_set_is_one_entry_naming_its_sources(bank: Workbench) -> None:
    wb = bank
    grant(wb, "sam", table="bank.customers")
    sam = who(wb, "sam")
    training = wb.features.training_set(
        ENTITIES, FEATURES, principal=sam, remote=False, client="cli"
    )
    assert values(training.table, "mail") == [p[1].lower() for p in PEOPLE]
    [entry] = raw_reads(wb)
    assert entry["read"] == "training_set" and entry["actor"] == "sam"
    assert entry["tables"] == ["bank.customers"] and entry["target"] == "bank.customers"
    assert entry["columns"] == BOTH and entry["kinds"] == ["email", "person_name"]
    assert entry["rows"] == 2 and entry["from"] == "cli" and entry["remote"] is False
    assert entry["views"] == ["contact"]
    assert entry["features"] == ["contact:mail", "contact:full_name"]
    assert entry["training_set"] is None and entry["query_id"] is None

    # Saved: the entry names the training set; an export grant makes a remote read raw.
    grant(wb, "sam", table="bank.customers", export=True)
    saved = wb.features.training_set(
        ENTITIES, ["contact:mail"], save_as="ml.churn", principal=sam, client="203.0.113.9"
    )
    last = raw_reads(wb)[-1]
    assert last["training_set"] == "ml.churn" and last["version"] == saved.version
    assert last["columns"] == EMAIL and last["features"] == ["contact:mail"]
    assert last["from"] == "api" and last["remote"] is True
    assert last["client"] == "203.0.113.9"
    assert len(raw_reads(wb)) == 2


def test_the_entry_names_only_what_the_grant_opened(bank: Workbench) -> None:
    wb = bank
    # A grant on names only: the e-mail stays masked, so only the names are raw.
    grant(wb, "kim", kind="person_name")
    kim = who(wb, "kim")
    training = wb.features.training_set(ENTITIES, FEATURES, principal=kim, remote=False)
    assert values(training.table, "full_name") == ["Ann Lee", "Bob Ray"]
    assert values(training.table, "mail") != [p[1].lower() for p in PEOPLE]
    [entry] = raw_reads(wb)
    assert entry["columns"] == NAMES and entry["features"] == ["contact:full_name"]
    # An entity table read whole: its tagged columns the grant opens count too.
    wb.features.training_set(
        "bank.customers",
        ["contact:segment"],
        timestamp="signed",
        full_names=True,
        principal=kim,
        remote=False,
    )
    entry = raw_reads(wb)[-1]
    assert entry["columns"] == NAMES and entry["features"] == [] and entry["rows"] == 2
    # The granted person only: another scientist's read stays masked and unrecorded.
    wb.features.training_set(ENTITIES, FEATURES, principal=who(wb, "sam"), remote=False)
    assert [e["actor"] for e in raw_reads(wb)] == ["kim", "kim"]


def test_a_table_marked_personal_counts_as_a_whole(bank: Workbench) -> None:
    wb = bank
    sam = who(wb, "sam")
    grant(wb, "sam", table="bank.notes")
    training = wb.features.training_set(ENTITIES, ["notes:memo"], principal=sam, remote=False)
    assert values(training.table, "memo") == ["Ann rang", "Bob wrote"]
    [entry] = raw_reads(wb)
    assert entry["columns"] == {"bank.notes": {"personal": ["*"]}}
    assert entry["kinds"] == ["personal"] and entry["views"] == ["notes"]


def test_online_lookups_record_the_features_shown_raw(bank: Workbench) -> None:
    wb = bank
    wb.features.materialize(["contact", "notes"], principal=who(wb, "ada"))
    sam = who(wb, "sam")
    refs = ["contact:mail", "contact:full_name", "contact:segment"]
    wb.features.online(KEYS, refs, principal=sam, remote=False)
    wb.features.online(KEYS, refs, principal=who(wb, "ada"), remote=False)
    wb.features.online(KEYS, refs)  # no principal: masked
    grant(wb, "sam", table="bank.customers")
    wb.features.online(KEYS, refs, principal=sam)  # remote without an export grant
    wb.features.online(KEYS, ["contact:segment"], principal=sam, remote=False)
    assert raw_reads(wb) == []

    table = wb.features.online(KEYS, refs, principal=sam, remote=False, client="sdk")
    assert values(table, "mail") == [p[1].lower() for p in PEOPLE]
    [entry] = raw_reads(wb)
    assert entry["read"] == "online" and entry["actor"] == "sam" and entry["rows"] == 2
    assert entry["columns"] == BOTH and entry["views"] == ["contact"]
    assert entry["features"] == ["contact:mail", "contact:full_name"]
    assert entry["from"] == "sdk" and entry["remote"] is False

    # An export grant on e-mails only: off the server, the names stay masked.
    grant(wb, "sam", kind="email", export=True)
    table = wb.features.online(
        {"id": [2, 1, 3]}, ["contact:mail", "contact:full_name", "notes:memo"], principal=sam
    )
    assert values(table, "mail") == ["bob.ray@example.org", "ann.lee@example.com", None]
    assert "Bob Ray" not in values(table, "full_name")
    entry = raw_reads(wb)[-1]
    assert entry["columns"] == EMAIL and entry["features"] == ["contact:mail"]
    assert entry["rows"] == 3 and entry["remote"] is True and entry["from"] == "api"


def test_the_embedded_sdk_records_its_entry_point(bank: Workbench) -> None:
    from atelier.sdk.features import EmbeddedFeatures

    wb = bank
    grant(wb, "sam", table="bank.customers")
    wb.features.materialize(["contact"], principal=who(wb, "ada"))
    features = EmbeddedFeatures(wb, "sam", who(wb, "sam"), client="cli")
    features.training_set(ENTITIES, ["contact:mail"])
    features.online(KEYS, ["contact:full_name"])
    reads = raw_reads(wb)
    assert [(e["read"], e["from"], e["remote"]) for e in reads] == [
        ("training_set", "cli", False),
        ("online", "cli", False),
    ]
    assert reads[0]["columns"] == EMAIL and reads[1]["columns"] == NAMES
    # Admins find them by table and kind, as the other raw reads.
    found = RawReadAudit(wb.db, wb.audit).entries(who(wb, "ada"), table="customers", kind="email")
    assert [(r.read, r.actor) for r in found] == [("training_set", "sam")]


@pytest.fixture
def api(bank: Workbench) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    headers = {
        name: {"Authorization": f"Bearer {bank.tokens.create(name, 'test', 1)[1]}"}
        for name in ("ada", "sam", "vic")
    }
    with TestClient(create_app(bank), base_url="http://127.0.0.1") as client:
        yield client, headers


def test_reads_over_the_api_are_audited_as_remote(
    bank: Workbench, api: tuple[Any, dict[str, dict[str, str]]]
) -> None:
    wb = bank
    client, headers = api
    wb.features.materialize(["contact"], principal=who(wb, "ada"))
    sink = pa.BufferOutputStream()
    frame = pa.Table.from_pandas(ENTITIES, preserve_index=False)
    with pa.ipc.new_stream(sink, frame.schema) as writer:
        writer.write_table(frame)
    body = sink.getvalue().to_pybytes()

    def train(user: str) -> pa.Table:
        response = client.post(
            "/api/v1/features/training-set",
            params={"features": ["contact:mail", "contact:full_name"]},
            content=body,
            headers=headers[user] | {"Content-Type": ARROW},
        )
        assert response.status_code == 200, response.text
        return pa.ipc.open_stream(response.content).read_all()

    def lookup(user: str, status: int = 200) -> Any:
        response = client.post(
            "/api/v1/features/online",
            json={"keys": KEYS, "features": ["contact:mail", "contact:full_name"]},
            headers=headers[user],
        )
        assert response.status_code == status, response.text
        return response.json()

    train("sam")
    lookup("sam")
    lookup("vic", 403)  # viewers may not look features up: refused, nothing read
    grant(wb, "sam", table="bank.customers")  # not an export grant: the API is remote
    train("sam")
    lookup("sam")
    assert raw_reads(wb) == []

    grant(wb, "sam", table="bank.customers", export=True)
    assert values(train("sam"), "mail") == [p[1].lower() for p in PEOPLE]
    rows = lookup("sam")["rows"]
    assert [r["full_name"] for r in rows] == ["Ann Lee", "Bob Ray"]
    train("ada")  # the grant is sam's
    reads = raw_reads(wb)
    assert [(e["read"], e["actor"]) for e in reads] == [("training_set", "sam"), ("online", "sam")]
    for entry in reads:
        assert entry["columns"] == BOTH and entry["rows"] == 2 and entry["views"] == ["contact"]
        assert entry["from"] == "api" and entry["remote"] is True
        assert entry["client"] == "testclient"
    # The admin's API lists them by kind.
    response = client.get(
        "/api/v1/audit",
        params={"action": RAW_READ, "kind": "person_name"},
        headers=headers["ada"],
    )
    assert response.status_code == 200, response.text
    assert sorted(e["detail"]["read"] for e in response.json()) == ["online", "training_set"]
    assert client.get("/api/v1/audit", headers=headers["sam"]).status_code == 403
    # The admin page lists them with what was read, filtered by user and table.
    page = client.get(
        "/admin/audit/raw-reads",
        params={"user": "sam", "table": "customers"},
        headers=headers["ada"],
    )
    assert page.status_code == 200, page.text
    rows = page.text.split("<tr data-raw-read=")[1:]
    assert len(rows) == 2 and all("contact" in row and "api (remote)" in row for row in rows)
    assert "training_set" in rows[1] and "online" in rows[0]
    assert client.get("/admin/audit/raw-reads", headers=headers["sam"]).status_code == 403
