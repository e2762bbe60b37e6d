"""SQL sees masked personal data: every way a hostile colleague might read a tagged column raw
through user SQL (aliases, CTEs, subqueries, SELECT *, COLUMNS(*), to_json, struct_pack,
list aggregates, SUMMARIZE, DESCRIBE, time travel, the lake's files and catalog, joins on
the raw value, reading the pseudonym key) gives masked values, unless the person holds a raw
grant (an export grant for a remote client)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from atelier.backends.warehouse import QueryRefused
from atelier.errors import PermissionDenied
from atelier.services.auth import Principal
from atelier.services.pii.grants import grants_of
from atelier.services.pii.policies import Masker, policies_of
from atelier.services.workbench import Workbench

RAW_EMAILS = ["ann@example.com", "bob@example.org", "cy@example.net"]
RAW_PHONES = ["+44 20 7946 0958", "+33 1 23 45 67 89", "+49 30 901820"]


def _as(wb: Workbench, name: str) -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, "token")  # type: ignore[arg-type]


@pytest.fixture
def bank(workbench: Workbench) -> tuple[Workbench, Masker, list[int]]:
    wb = workbench
    for name, role in (("ada", "admin"), ("sam", "scientist"), ("vic", "viewer")):
        wb.users.create(name, role, "correct horse battery")
    rows = ", ".join(
        f"({i + 1}, '{e}', '{p}', DATE '19{70 + i}-0{i + 1}-15', 'gold')"
        for i, (e, p) in enumerate(zip(RAW_EMAILS, RAW_PHONES, strict=True))
    )
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"{rows}) t(id, email, phone, birth, segment); "
            "CREATE TABLE bank.orders AS SELECT * FROM (VALUES "
            "('ann@example.com', 10), ('cy@example.net', 30)) t(customer_email, amount)"
        ),
        author="ada",
    )
    wb.warehouse.run_write(
        lambda c: c.execute("DELETE FROM bank.customers WHERE id = 3"), author="ada"
    )
    ada = _as(wb, "ada")
    for column, kind in (("email", "email"), ("phone", "phone"), ("birth", "date_of_birth")):
        wb.pii_tags.confirm(ada, "bank.customers", column, kind)
    versions = [s.snapshot_id for s in wb.warehouse.snapshots("customers", schema="bank")]
    return wb, policies_of(wb).masker(), versions


def _rows(wb: Workbench, who: str, sql: str, *, remote: bool = False) -> list[dict[str, Any]]:
    with wb.query.run(sql, principal=_as(wb, who), remote=remote) as result:
        return list(result.to_arrow().to_pylist())


def _values(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str)


def _no_raw(text: str) -> None:
    for raw in (*RAW_EMAILS, *RAW_PHONES, "1970-01-15", "1971-02-15"):
        assert raw not in text, f"{raw} leaked in {text[:300]}"


def test_a_scientist_without_grant_sees_masked_values_whatever_the_form(
    bank: tuple[Workbench, Masker, list[int]],
) -> None:
    wb, masker, versions = bank
    emails = [masker.mask("email", e) for e in RAW_EMAILS[:2]]
    rows = _rows(wb, "sam", "SELECT * FROM bank.customers ORDER BY id")
    assert [r["email"] for r in rows] == emails
    assert [r["phone"] for r in rows] == [masker.mask("phone", p) for p in RAW_PHONES[:2]]
    assert [r["birth"] for r in rows] == [1970, 1971]
    assert [r["segment"] for r in rows] == ["gold", "gold"]  # untagged: as it is

    forms = [
        "SELECT c.email AS e, c.phone FROM bank.customers AS c",
        "SELECT x.e FROM (SELECT email AS e FROM bank.customers) x",
        "WITH t AS (SELECT * FROM bank.customers) SELECT * FROM t",
        "WITH customers AS (SELECT * FROM bank.customers) SELECT email FROM customers",
        "FROM bank.customers",
        "SELECT COLUMNS(*) FROM bank.customers",
        "SELECT COLUMNS('e.*') FROM bank.customers",
        "SELECT to_json(c) AS j FROM bank.customers c",
        "SELECT struct_pack(*COLUMNS(*)) AS s FROM bank.customers",
        "SELECT customers AS row FROM bank.customers",
        "SELECT list(email) AS l, string_agg(phone, ',') AS p FROM bank.customers",
        "SELECT max(email) AS m, min(phone) AS p, max(birth) AS b FROM bank.customers",
        "SUMMARIZE bank.customers",
        "SUMMARIZE SELECT email, phone FROM bank.customers",
        "SELECT * FROM lake.bank.customers",
        'SELECT * FROM "BANK"."CUSTOMERS"',
        "SELECT email FROM bank.customers UNION ALL SELECT email FROM bank.customers",
        "SELECT * FROM bank.customers WHERE email LIKE '%example%'",
        "SELECT (SELECT max(email) FROM bank.customers) AS m",
        "SELECT * FROM bank.customers TABLESAMPLE 100%",
        f"SELECT * FROM bank.customers AT (VERSION => {versions[0]})",
        f"SELECT to_json(c) FROM bank.customers c AT (VERSION => {versions[0]})",
        "SELECT o.amount, c.email FROM bank.orders o JOIN bank.customers c "
        "ON o.customer_email = c.email",
        "PIVOT bank.customers ON segment IN ('gold') USING max(email)",
        "UNPIVOT bank.customers ON email, phone INTO NAME k VALUE v",
        "SELECT * FROM summary((SELECT * FROM bank.customers))",
        "SELECT * FROM unnest((SELECT list(email) FROM bank.customers))",
        "SELECT * FROM bank.customers, LATERAL (SELECT email || phone) t(x)",
        "SELECT email, count(*) OVER (PARTITION BY email) AS n FROM bank.customers",
    ]
    for sql in forms:
        _no_raw(_values(_rows(wb, "sam", sql)))

    # Joining on the raw value finds nothing: the masked column holds pseudonyms.
    joined = _rows(
        wb,
        "sam",
        "SELECT count(*) AS n FROM bank.orders o JOIN bank.customers c "
        "ON o.customer_email = c.email",
    )
    assert joined == [{"n": 0}]
    # A guess checked in a WHERE clause finds nothing either.
    assert _rows(
        wb, "sam", "SELECT count(*) AS n FROM bank.customers WHERE email = 'ann@example.com'"
    ) == [{"n": 0}]
    # Masked values join with masked values: the pseudonym is deterministic.
    same = _rows(
        wb,
        "sam",
        "SELECT count(*) AS n FROM bank.customers a JOIN bank.customers b ON a.email = b.email",
    )
    assert same == [{"n": 2}]
    old = _rows(wb, "sam", f"SELECT email FROM bank.customers AT (VERSION => {versions[0]})")
    assert sorted(r["email"] for r in old) == sorted(masker.mask("email", e) for e in RAW_EMAILS)
    # DESCRIBE shows the masked types (a generalised date of birth is a year).
    described = {
        r["column_name"]: r["column_type"] for r in _rows(wb, "sam", "DESCRIBE bank.customers")
    }
    assert described["birth"] == "INTEGER" and described["email"] == "VARCHAR"


def test_what_cannot_be_masked_is_refused(bank: tuple[Workbench, Masker, list[int]]) -> None:
    wb, _, _ = bank
    refused = [
        "SELECT * FROM read_parquet('" + str(wb.warehouse.data_path) + "/**/*.parquet')",
        f"SELECT * FROM '{wb.warehouse.data_path}/bank/customers/x.parquet'",
        "SELECT * FROM __ducklake_metadata_lake.ducklake_table",
        "SELECT * FROM lake.table_changes('customers', 0, 10)",
        "SELECT * FROM ducklake_table_insertions('lake', 'bank', 'customers', 0, 10)",
        "SELECT getvariable('atelier_pii_prefix') AS k",
        "EXPLAIN SELECT email FROM bank.customers",
        "PIVOT bank.customers ON email USING count(*)",
        "WITH customers AS (SELECT 1) SELECT * FROM (SELECT * FROM customers)",
        "CREATE TABLE bank.copy AS SELECT * FROM bank.customers",
        "COPY (SELECT * FROM bank.customers) TO '/tmp/x.csv'",
    ]
    wb.warehouse.run_write(
        lambda c: c.execute("CREATE TABLE main.customers AS SELECT 'x@y.z' AS email"),
        author="ada",
    )
    wb.pii_tags.confirm(_as(wb, "ada"), "main.customers", "email", "email")
    for sql in refused:
        with pytest.raises((QueryRefused, PermissionDenied, Exception)) as caught:
            _rows(wb, "sam", sql)
        _no_raw(str(caught.value))
    # The refused ones are refused, not merely failing: the main messages.
    with pytest.raises(QueryRefused, match="personal data"):
        _rows(wb, "sam", "SELECT * FROM lake.table_changes('customers', 0, 10)")
    with pytest.raises(QueryRefused, match="getvariable"):
        _rows(wb, "sam", "SELECT getvariable('atelier_pii_prefix') AS k")
    with pytest.raises(QueryRefused, match="CTE"):
        _rows(wb, "sam", "WITH customers AS (SELECT 1) SELECT * FROM (SELECT * FROM customers)")


def test_views_and_catalog_functions_do_not_reveal_the_key(
    bank: tuple[Workbench, Masker, list[int]],
) -> None:
    wb, masker, _ = bank
    inner, outer = masker.pseudonym_prefix.hex(), masker._key.hex()
    for sql in (
        "SELECT * FROM duckdb_views()",
        "SELECT * FROM duckdb_functions() WHERE function_type = 'macro'",
        "SELECT * FROM information_schema.views",
        "SELECT * FROM information_schema.columns WHERE table_name = 'customers'",
        "SELECT * FROM duckdb_tables()",
    ):
        text = _values(_rows(wb, "sam", sql))
        assert inner not in text and outer not in text
    # An error in a masked query names masking expressions, never the key's blocks.
    with pytest.raises(Exception) as caught:
        _rows(wb, "sam", "SELECT email + 1 FROM bank.customers")
    assert inner not in str(caught.value) and outer not in str(caught.value)
    # Nor the rewritten statement: DuckDB's quote of it would point into the subqueries.
    with pytest.raises(Exception, match="emial") as caught:
        _rows(wb, "sam", "SELECT emial FROM bank.customers")
    assert "getvariable" not in str(caught.value) and "LINE" not in str(caught.value)


def test_grants_open_raw_values_on_the_server_and_export_grants_beyond(
    bank: tuple[Workbench, Masker, list[int]],
) -> None:
    wb, masker, _ = bank
    ada = _as(wb, "ada")
    grants = grants_of(wb)
    sql = "SELECT email FROM bank.customers ORDER BY id"
    masked = [{"email": masker.mask("email", e)} for e in RAW_EMAILS[:2]]
    raw = [{"email": e} for e in RAW_EMAILS[:2]]
    # Admins are not exempt.
    assert _rows(wb, "ada", sql) == masked
    grants.grant(ada, "sam", table="bank.customers", reason="fraud case 42", days=1)
    assert _rows(wb, "sam", sql) == raw
    assert _rows(wb, "sam", "SELECT to_json(c) AS j FROM bank.customers c ORDER BY id")[0][
        "j"
    ].startswith('{"id":1,"email":"ann@example.com"')
    # Leaving the server (remote) needs an export grant: the default is the stricter.
    assert _rows(wb, "sam", sql, remote=True) == masked
    with wb.query.run(sql, principal=_as(wb, "sam")) as result:
        assert result.to_arrow().to_pylist() == masked
    grants.grant(ada, "sam", kind="email", reason="mailing audit", days=1, export=True)
    assert _rows(wb, "sam", sql, remote=True) == raw
    # A grant on the email kind does not open the phone column.
    phones = _rows(wb, "sam", "SELECT phone FROM bank.customers ORDER BY id", remote=True)
    assert phones == [{"phone": masker.mask("phone", p)} for p in RAW_PHONES[:2]]
    # Viewers may not run SQL at all, grant or not.
    with pytest.raises(PermissionDenied):
        _rows(wb, "vic", sql)
    # Tables without tags are read as they are.
    assert _rows(wb, "sam", "SELECT customer_email FROM bank.orders ORDER BY amount") == [
        {"customer_email": "ann@example.com"},
        {"customer_email": "cy@example.net"},
    ]


def test_the_api_masks_unless_the_caller_may_export(
    bank: tuple[Workbench, Masker, list[int]], client: Any
) -> None:
    wb, _, _ = bank
    tokens = {name: wb.tokens.create(name, "test", 1)[1] for name in ("ada", "sam", "vic")}

    def call(who: str, sql: str) -> Any:
        return client.post(
            "/api/v1/sql",
            json={"sql": sql},
            headers={"Authorization": f"Bearer {tokens[who]}"},
        )

    sql = "SELECT to_json(c) AS j, list(email) OVER () AS l FROM bank.customers c"
    for who in ("ada", "sam"):
        response = call(who, sql)
        assert response.status_code == 200, response.text
        _no_raw(response.text)
    assert call("vic", sql).status_code == 403
    ada = _as(wb, "ada")
    grants_of(wb).grant(ada, "sam", table="bank.customers", reason="case 7", days=1)
    _no_raw(call("sam", sql).text)  # a raw grant alone stays on the server
    # The portal's SQL page shows raw values to a signed-in person with a grant, but a token
    # scraping the page is a remote client like any other.
    page = client.post(
        "/data/sql/run",
        data={"sql": "SELECT email FROM bank.customers"},
        headers={"Authorization": f"Bearer {tokens['sam']}"},
    )
    assert page.status_code == 200 and "sql-grid" in page.text
    _no_raw(page.text)
    grants_of(wb).grant(
        ada, "sam", table="bank.customers", reason="case 7 export", days=1, export=True
    )
    assert "ann@example.com" in call("sam", sql).text


def test_samples_and_profiles_show_what_sql_shows(
    bank: tuple[Workbench, Masker, list[int]],
) -> None:
    wb, masker, versions = bank
    sam, ada = _as(wb, "sam"), _as(wb, "ada")
    emails = sorted(masker.mask("email", e) for e in RAW_EMAILS[:2])

    def sample(who: Principal | None, *, remote: bool = False) -> dict[str, list[Any]]:
        detail = wb.catalog.describe("bank.customers", principal=who, remote=remote).as_dict()
        columns = detail["sample"]["columns"]
        return {
            c: sorted(str(row[i]) for row in detail["sample"]["rows"])
            for i, c in enumerate(columns)
        }

    def profile(who: Principal | None, **options: Any) -> dict[str, dict[str, Any]]:
        found = wb.profiles.profile("bank.customers", principal=who, **options).as_dict()
        return {c["name"]: c for c in found["columns"]}

    # Without a grant, admins included, and without a person at all: masked values only.
    for who in (sam, ada, None):
        shown = sample(who)
        assert shown["email"] == emails and shown["birth"] == ["1970", "1971"]
        assert shown["segment"] == ["gold", "gold"]
        _no_raw(json.dumps(shown))
        columns = profile(who)
        _no_raw(json.dumps(columns, default=str))
        email = columns["email"]
        assert sorted(v["value"] for v in email["top_values"]) == emails
        assert "masked" in (email["note"] or "")
        # A generalised date of birth is profiled as the year SQL shows.
        birth = columns["birth"]
        assert (birth["min"], birth["max"]) == (1970, 1971), birth
        assert columns["segment"]["note"] is None
        assert columns["segment"]["top_values"][0]["value"] == "gold"
    # Time travel: an older version is masked the same way.
    old = profile(sam, version=versions[0])
    _no_raw(json.dumps(old, default=str))
    assert sorted(v["value"] for v in old["email"]["top_values"]) == sorted(
        masker.mask("email", e) for e in RAW_EMAILS
    )

    # A raw grant opens raw values on the server; leaving it needs an export grant.
    grants = grants_of(wb)
    grants.grant(ada, "sam", table="bank.customers", reason="fraud case 42", days=1)
    assert sample(sam)["email"] == sorted(RAW_EMAILS[:2])
    raw = profile(sam, remote=False)
    assert sorted(v["value"] for v in raw["email"]["top_values"]) == sorted(RAW_EMAILS[:2])
    assert raw["email"]["note"] is None
    assert raw["birth"]["min"] == "1970-01-15"
    _no_raw(json.dumps(sample(sam, remote=True)))
    _no_raw(json.dumps(profile(sam, remote=True), default=str))
    _no_raw(json.dumps(sample(ada)))  # the grant is sam's only
    grants.grant(ada, "sam", kind="email", reason="audit", days=1, export=True)
    exported = profile(sam, remote=True)
    assert sorted(v["value"] for v in exported["email"]["top_values"]) == sorted(RAW_EMAILS[:2])
    # The export grant names the email kind: phones and birth dates stay masked.
    assert exported["phone"]["note"] and exported["birth"]["max"] == 1971
    assert sample(sam, remote=True)["phone"] == sorted(
        masker.mask("phone", p) for p in RAW_PHONES[:2]
    )


def test_the_tables_api_and_pages_mask_samples_and_profiles(
    bank: tuple[Workbench, Masker, list[int]], client: Any
) -> None:
    wb, _, _ = bank
    tokens = {name: wb.tokens.create(name, "test", 1)[1] for name in ("ada", "sam", "vic")}

    def get(who: str, path: str) -> Any:
        return client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"})

    paths = [
        "/api/v1/tables/bank.customers",
        "/api/v1/tables/bank.customers/profile",
        "/data/tables/bank.customers",
        "/data/tables/bank.customers/profile",
    ]
    for path in paths:
        for who in ("ada", "sam"):
            response = get(who, path)
            assert response.status_code == 200, (path, response.text)
            _no_raw(response.text)
        # Viewers see no rows or profiles at all.
        assert get("vic", "/api/v1/tables/bank.customers").status_code == 403
    # A raw grant alone stays on the server: the API and a token reading a page are remote.
    ada = _as(wb, "ada")
    grants_of(wb).grant(ada, "sam", table="bank.customers", reason="case 7", days=1)
    for path in paths:
        _no_raw(get("sam", path).text)
    # The name written in another case is the same table, masked the same.
    _no_raw(get("sam", "/api/v1/tables/BANK.CUSTOMERS/profile").text)
    grants_of(wb).grant(
        ada, "sam", table="bank.customers", reason="case 7 export", days=1, export=True
    )
    assert "ann@example.com" in get("sam", paths[0]).text
    assert "ann@example.com" in get("sam", paths[1]).text


def test_feature_views_and_training_sets_read_personal_data_masked(
    bank: tuple[Workbench, Masker, list[int]],
) -> None:
    import pandas as pd

    from atelier.services.features import Definitions, Derived, Entity, FeatureView

    wb, masker, _ = bank
    ada, sam = _as(wb, "ada"), _as(wb, "sam")
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE TABLE bank.signups AS SELECT * FROM (VALUES "
            "(1, 'ann@example.com', TIMESTAMP '2024-01-01'), "
            "(2, 'bob@example.org', TIMESTAMP '2024-01-02')) t(id, email, signed)"
        ),
        author="ada",
    )
    wb.pii_tags.confirm(ada, "bank.signups", "email", "email")
    customer = Entity("customer", ["id"])
    views = [
        FeatureView(
            "contact",
            customer,
            "signed",
            source="bank.signups",
            features=["email", Derived("domain", sql="split_part(email, '@', 2)")],
        ),
        FeatureView(
            "contact_q",
            customer,
            "signed",
            query="SELECT id, signed, email AS mail FROM bank.signups",
            features=["mail"],
        ),
    ]
    wb.features.apply(Definitions(entities=[customer], views=views), project="bank", by="ada")
    entities = pd.DataFrame(
        {"id": [1, 2], "event_timestamp": pd.to_datetime(["2024-02-01", "2024-02-01"])}
    )
    refs = ["contact:email", "contact:domain", "contact_q:mail"]

    def emails(**kwargs: Any) -> list[tuple[Any, ...]]:
        table = wb.features.training_set(entities, refs, **kwargs).table
        return [(r["email"], r["mail"]) for r in table.to_pylist()]

    masked = [(masker.mask("email", e), masker.mask("email", e)) for e in RAW_EMAILS[:2]]
    raw = [(e, e) for e in RAW_EMAILS[:2]]
    # No grant: the view's column, its SQL feature and a query view all read masked values.
    assert emails(principal=sam, remote=False) == masked
    table = wb.features.training_set(entities, refs, principal=sam, remote=False).table
    _no_raw(_values(table.to_pylist()))
    assert "example" not in str(table.column("domain").to_pylist())
    # An entity table read by name is masked too.
    named = wb.features.training_set("bank.signups", ["contact:domain"], timestamp="signed")
    _no_raw(_values(named.table.to_pylist()))
    # The online store holds what the person who materialized may see; statistics are masked.
    wb.features.materialize(["contact"], principal=sam)
    online = wb.features.online(pd.DataFrame({"id": [1, 2]}), ["contact:email"])
    assert online.column("email").to_pylist() == [m for m, _ in masked]
    _no_raw(_values(wb.features.statistics("contact")))
    # A raw grant opens the values on the server; leaving it (remote) needs an export grant.
    grants = grants_of(wb)
    grants.grant(ada, "sam", table="bank.signups", reason="fraud case 42", days=1)
    assert emails(principal=sam, remote=False) == raw
    assert emails(principal=sam) == masked
    assert emails(principal=ada, remote=False) == masked  # admins are not exempt
    grants.grant(ada, "sam", kind="email", reason="mailing audit", days=1, export=True)
    assert emails(principal=sam) == raw
