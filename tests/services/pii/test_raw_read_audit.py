"""Every raw read of personal data is audited once (``pii.raw_read``), masked reads never are,
on SQLite and PostgreSQL: SQL through the query service, table samples and profiles; the
entries name tables, columns by kind, rows, the query and where from, never a value; admins
list them with filters. Tables marked personal as a whole are masked as a whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from atelier.backends.warehouse import QueryRefused
from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.pii.audit import RAW_READ, RawReadAudit
from atelier.services.pii.grants import grants_of
from atelier.services.workbench import Workbench

RAW_EMAILS = ["ann@example.com", "bob@example.org", "cy@example.net"]
RAW_PHONES = ["+44 20 7946 0958", "+33 1 23 45 67 89", "+49 30 901820"]


def _as(wb: Workbench, name: str, via: str = "token") -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, via)  # type: ignore[arg-type]


@pytest.fixture
def bank(workbench: Workbench) -> Workbench:
    wb = workbench
    for name, role in (("ada", "admin"), ("sam", "scientist"), ("kim", "scientist")):
        wb.users.create(name, role, "correct horse battery")
    rows = ", ".join(
        f"({i + 1}, '{e}', '{p}', 'gold')"
        for i, (e, p) in enumerate(zip(RAW_EMAILS, RAW_PHONES, strict=True))
    )
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"{rows}) t(id, email, phone, segment); "
            "CREATE TABLE bank.notes AS SELECT * FROM (VALUES (1, 'Ann called'), "
            "(2, 'Bob wrote')) t(id, memo)"
        ),
        author="ada",
    )
    ada = _as(wb, "ada")
    for column, kind in (("email", "email"), ("phone", "phone")):
        wb.pii_tags.confirm(ada, "bank.customers", column, kind)
    return wb


def _grant(wb: Workbench, user: str, **scope: Any) -> None:
    grants_of(wb).grant(_as(wb, "ada"), user, reason="case 42", days=1, **scope)


def _raw_reads(wb: Workbench) -> list[dict[str, Any]]:
    entries = wb.audit.entries(limit=1000, action=RAW_READ)
    return [{**e.detail, "actor": e.actor, "client": e.client} for e in reversed(entries)]  # type: ignore[dict-item]


def _sql(wb: Workbench, who: Principal, sql: str, **kwargs: Any) -> list[dict[str, Any]]:
    with wb.query.run(sql, principal=who, **kwargs) as result:
        return list(result.to_arrow().to_pylist())


FORMS = [
    ("SELECT email FROM bank.customers", 3),
    ("SELECT c.email AS e FROM bank.customers AS c WHERE c.id < 3", 2),
    ("SELECT x.e FROM (SELECT email AS e FROM bank.customers) x LIMIT 1", 1),
    ("WITH t AS (SELECT * FROM bank.customers) SELECT id FROM t", 3),
    ("SELECT * FROM lake.bank.customers", 3),
    ("SELECT to_json(c) FROM bank.customers c", 3),
    ("SELECT bank.customers.email FROM bank.customers", 3),
    ("SELECT count(*) FROM bank.customers WHERE email LIKE '%.org'", 1),
    ("SUMMARIZE bank.customers", 4),
]


def test_masked_reads_record_nothing(bank: Workbench) -> None:
    wb = bank
    sam = _as(wb, "sam")
    for sql, _ in FORMS:
        assert RAW_EMAILS[0] not in json.dumps(_sql(wb, sam, sql), default=str)
    wb.catalog.describe("bank.customers", principal=sam, remote=False)
    wb.profiles.profile("bank.customers", principal=sam, remote=False)
    # A grant on the kind, but the result leaves the server without an export grant: masked.
    _grant(wb, "sam", kind="email")
    assert (
        _sql(wb, sam, "SELECT email FROM bank.customers", remote=True)[0]["email"]
        != (RAW_EMAILS[0])
    )
    wb.catalog.describe("bank.customers", principal=sam, remote=True)
    # With the grant on the server, reading no tagged column is no raw read.
    for sql in ("SELECT id, segment FROM bank.customers", "SELECT count(*) FROM bank.customers"):
        _sql(wb, sam, sql, remote=False)
    _sql(wb, sam, "DESCRIBE bank.customers", remote=False)
    assert _raw_reads(wb) == []


def test_each_raw_sql_read_is_one_entry_with_its_rows(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", kind="email")
    sam = _as(wb, "sam")
    for number, (sql, rows) in enumerate(FORMS, start=1):
        with wb.query.run(sql, principal=sam, remote=False, client="cli") as result:
            result.to_arrow()
            query_id = result.query_id
        entries = _raw_reads(wb)
        assert len(entries) == number, sql  # exactly one more
        entry = entries[-1]
        assert entry["actor"] == "sam" and entry["client"] == "cli"
        assert entry["read"] == "sql" and entry["query_id"] == query_id
        assert entry["rows"] == rows, sql
        # The grant covers email only: phone stays masked and is not a raw read.
        assert entry["tables"] == ["bank.customers"]
        assert entry["columns"] == {"bank.customers": {"email": ["email"]}}, sql
        assert entry["kinds"] == ["email"]
        assert entry["from"] == "cli" and entry["remote"] is False
        assert not any(raw in json.dumps(entry) for raw in (*RAW_EMAILS, *RAW_PHONES))


def test_where_a_read_comes_from(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", table="bank.customers", export=True)
    user = wb.users.get("sam")
    portal = Principal(user.id, "sam", "scientist", "session")
    job = Principal(
        user.id, "sam", "scientist", "token", scopes=frozenset({"data:read"}), label="job 12"
    )
    sql = "SELECT email, phone FROM bank.customers"
    _sql(wb, portal, sql, remote=False)
    _sql(wb, job, sql, remote=True, client="10.0.0.7")
    _sql(wb, _as(wb, "sam"), sql, remote=True)
    _sql(wb, _as(wb, "sam", "local"), sql, remote=False, client="sdk")
    found = [(e["from"], e["remote"], e["client"]) for e in _raw_reads(wb)]
    assert found == [
        ("portal", False, None),
        ("job", True, "10.0.0.7"),
        ("api", True, None),
        ("sdk", False, "sdk"),
    ]
    assert _raw_reads(wb)[1]["token"] == "job 12"
    columns = {"bank.customers": {"email": ["email"], "phone": ["phone"]}}
    assert all(e["columns"] == columns for e in _raw_reads(wb))


def test_a_raw_read_closed_before_its_rows_is_still_recorded(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", kind="email")
    sam = _as(wb, "sam")
    result = wb.query.run("SELECT email FROM bank.customers", principal=sam, remote=False)
    result.close()  # the statement ran: closing it unread does not hide it
    (entry,) = _raw_reads(wb)
    assert entry["rows"] == 0 and entry["query_id"] == result.query_id


def test_refused_and_failed_queries_record_nothing(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", kind="email")
    sam = _as(wb, "sam")
    with pytest.raises(QueryRefused):
        _sql(wb, sam, "SELECT * FROM read_csv('/etc/passwd'), bank.customers", remote=False)
    with pytest.raises(InvalidInput):
        _sql(wb, sam, "SELECT email, nope FROM bank.customers", remote=False)
    assert _raw_reads(wb) == []


def test_samples_and_profiles_record_their_raw_reads(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", kind="phone")
    sam = _as(wb, "sam")
    detail = wb.catalog.describe("bank.customers", principal=sam, remote=False)
    assert RAW_PHONES[0] in json.dumps(detail.as_dict(), default=str)
    profile = wb.profiles.profile("bank.customers", principal=sam, remote=False)
    assert profile.rows == 3
    sample, profiled = _raw_reads(wb)
    assert sample["read"] == "sample" and sample["rows"] == 3 and sample["query_id"] is None
    assert profiled["read"] == "profile" and profiled["rows"] == 3
    for entry in (sample, profiled):
        assert entry["columns"] == {"bank.customers": {"phone": ["phone"]}}
        assert entry["actor"] == "sam" and entry["from"] == "sdk" and not entry["remote"]


def test_a_table_marked_personal_masks_its_untagged_columns(bank: Workbench) -> None:
    wb = bank
    ada, sam, kim = _as(wb, "ada"), _as(wb, "sam"), _as(wb, "kim")
    wb.pii_tags.mark(ada, "bank.notes", personal=True)
    rows = _sql(wb, sam, "SELECT * FROM bank.notes ORDER BY 1", remote=False)
    assert rows == [{"id": "[redacted]", "memo": "[redacted]"}] * 2
    sample = wb.catalog.describe("bank.notes", principal=sam, remote=False)
    assert "Ann called" not in json.dumps(sample.as_dict())
    profile = wb.profiles.profile("bank.notes", principal=sam, remote=False)
    assert "Ann called" not in json.dumps(profile.as_dict(), default=str)
    # A grant on a kind covers no untagged column; a grant on the table covers them all.
    _grant(wb, "kim", kind="free_text_with_pii")
    assert _sql(wb, kim, "SELECT memo FROM bank.notes", remote=False)[0]["memo"] == "[redacted]"
    assert _raw_reads(wb) == []
    _grant(wb, "sam", table="bank.notes")
    assert _sql(wb, sam, "SELECT memo FROM bank.notes ORDER BY id", remote=False) == [
        {"memo": "Ann called"},
        {"memo": "Bob wrote"},
    ]
    (entry,) = _raw_reads(wb)
    # ORDER BY id reads the raw ids too (their order tells them).
    assert entry["columns"] == {"bank.notes": {"personal": ["id", "memo"]}}
    assert entry["rows"] == 2
    # A tagged column of a personal table keeps its kind's rule.
    wb.pii_tags.confirm(ada, "bank.notes", "memo", "free_text_with_pii")
    assert _sql(wb, kim, "SELECT id, memo FROM bank.notes ORDER BY id", remote=False) == [
        {"id": "[redacted]", "memo": "Ann called"},
        {"id": "[redacted]", "memo": "Bob wrote"},
    ]
    assert _raw_reads(wb)[-1]["columns"] == {"bank.notes": {"free_text_with_pii": ["memo"]}}


def test_admins_filter_the_raw_reads_and_nobody_else_may(bank: Workbench) -> None:
    wb = bank
    _grant(wb, "sam", table="bank.customers")
    _grant(wb, "kim", kind="phone")
    _sql(wb, _as(wb, "sam"), "SELECT email FROM bank.customers", remote=False)
    _sql(wb, _as(wb, "kim"), "SELECT phone FROM bank.customers", remote=False)
    wb.pii_tags.mark(_as(wb, "ada"), "bank.notes", personal=True)
    _grant(wb, "kim", table="bank.notes")
    _sql(wb, _as(wb, "kim"), "SELECT memo FROM bank.notes", remote=False)
    audit = RawReadAudit(wb.db, wb.audit)
    ada = _as(wb, "ada")

    def actors(**filters: Any) -> list[str | None]:
        return [read.actor for read in audit.entries(ada, **filters)]

    assert actors() == ["kim", "kim", "sam"]
    assert actors(user="sam") == ["sam"]
    assert actors(table="bank.customers") == ["kim", "sam"]
    assert actors(table="customers") == ["kim", "sam"]
    assert actors(table="bank.notes", user="kim") == ["kim"]
    assert actors(kind="email") == ["sam"]
    assert actors(kind="personal") == ["kim"]
    assert actors(limit=1) == ["kim"]
    newest = audit.entries(ada)[0]
    assert actors(before_id=newest.id) == ["kim", "sam"]
    now = datetime.now(UTC)
    assert actors(since=now - timedelta(hours=1), until=now + timedelta(hours=1)) == [
        "kim",
        "kim",
        "sam",
    ]
    assert actors(since=now + timedelta(hours=1)) == []
    with pytest.raises(InvalidInput, match="not a kind"):
        audit.entries(ada, kind="shoe_size")
    with pytest.raises(InvalidInput, match="date range is empty"):
        audit.entries(ada, since=now, until=now - timedelta(days=1))
    with pytest.raises(PermissionDenied):
        audit.entries(_as(wb, "sam"))
    code = Principal(ada.user_id, "ada", "admin", "token", scopes=frozenset({"data:read"}))
    with pytest.raises(PermissionDenied):
        audit.entries(code)
