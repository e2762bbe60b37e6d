"""Masking rules: the Python function and the DuckDB expression of each rule give the same
values; defaults, ``[pii.rules]`` overrides, and the sealed pseudonym key."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atelier.backends.metadata import Database
from atelier.config.sealing import load_sealer
from atelier.config.settings import PiiSettings, Settings
from atelier.errors import ConfigError
from atelier.services.pii.kinds import PiiKind
from atelier.services.pii.policies import (
    DEFAULT_RULES,
    GENERALISABLE,
    Masker,
    PiiPolicies,
    Rule,
    parse_rule,
    rules_from,
)
from tests.conftest import TEMPLATES

KEY = b"k" * 32

#: Values of each kind as they come (text in several formats, dates, numbers, NULL, empty,
#: accents, quotes).
VALUES: dict[PiiKind, list[Any]] = {
    PiiKind.PERSON_NAME: ["Ada Lovelace", "Jürgen Schäfer", "O'Brien", "", None, "李小龙"],
    PiiKind.EMAIL: ["ada@example.org", "ADA@example.org", "x'y@z.fr", None],
    PiiKind.PHONE: [
        "+44 20 7946 0018",
        "030 1234567",
        "123",
        "1234",
        "ünï",
        "e\u0301cole 1234",
        "👍🏽abcdef",
        None,
    ],
    PiiKind.POSTAL_ADDRESS: [
        "10 Downing St, London SW1A 2AA",
        "1600 Pennsylvania Ave NW, Washington, DC 20500-0003",
        "Damrak 1, 1012 LG Amsterdam",
        "100 Queen St W, Toronto ON m5h 2n2",
        "Rue de la Loi 16, 1000 Bruxelles",
        "Hauptstraße 5, 10115 Berlin",
        "somewhere without a postcode",
        None,
    ],
    PiiKind.DATE_OF_BIRTH: ["1980-05-17", "17.05.1980", "05/17/1999", "2001/01/02", "n/a", None],
    PiiKind.NATIONAL_ID: ["123-45-6789", "1 84 12 76 451 089 46", None],
    PiiKind.PAYMENT_CARD: ["4111 1111 1111 1111", "4111111111111111", None],
    PiiKind.IBAN: ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", None],
    PiiKind.IP_ADDRESS: [
        "192.168.10.77",
        " 10.0.0.1 ",
        "2001:DB8:85a3::8a2e:370:7334",
        "fe80::1",
        "::1",
        "not an ip",
        "1.2.3.4\n",
        "\t1.2.3.4",
        "1.2.3.4\nx",
        "2001:db8:1:\n",
        "..",
        "1.2.3.4.5",
        " 2001:DB8:AB::1 ",
        "1.2.3.4  ",
        "\u0661.\u0662.\u0663.\u0664",
        "\uff11.2.3.4",
        "   ",
        "",
        None,
    ],
    PiiKind.FREE_TEXT_WITH_PII: ["call me at +44 20 7946 0018, Ada", None],
}

RULES = [Rule("redact"), Rule("null"), Rule("pseudonym"), Rule("partial", 4), Rule("partial", 1)]


def _sql_values(masker: Masker, kind: PiiKind, values: list[Any], sql_type: str) -> list[Any]:
    with duckdb.connect() as connection:
        connection.execute(f"CREATE TABLE t (i INTEGER, v {sql_type})")
        connection.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
        rows = connection.execute(f"SELECT {masker.sql(kind, 'v')} FROM t ORDER BY i").fetchall()
    return [row[0] for row in rows]


@pytest.mark.parametrize("kind", list(PiiKind))
def test_each_rule_gives_the_same_values_in_python_and_in_duckdb(kind: PiiKind) -> None:
    rules = RULES + ([Rule("generalise")] if kind in GENERALISABLE else [])
    for rule in rules:
        masker = Masker({**DEFAULT_RULES, kind: rule}, KEY)
        python = masker.mask_values(kind, VALUES[kind])
        assert _sql_values(masker, kind, VALUES[kind], "VARCHAR") == python, rule
        arrow = masker.mask_arrow(kind, pa.chunked_array([pa.array(VALUES[kind])]))
        assert arrow.to_pylist() == python


def test_typed_values_are_masked_alike() -> None:
    masker = Masker(DEFAULT_RULES, KEY)
    dates = [date(1980, 5, 17), None, date(2001, 12, 31)]
    assert masker.mask_values(PiiKind.DATE_OF_BIRTH, dates) == [1980, None, 2001]
    assert _sql_values(masker, PiiKind.DATE_OF_BIRTH, dates, "DATE") == [1980, None, 2001]
    stamps = [datetime(1980, 5, 17), datetime(1999, 1, 2, 3, 4, 5, 6)]
    for rule in (Rule("pseudonym"), Rule("partial", 4), Rule("redact")):
        typed = Masker({**DEFAULT_RULES, PiiKind.DATE_OF_BIRTH: rule}, KEY)
        for values, sql_type in ((dates, "DATE"), (stamps, "TIMESTAMP")):
            expected = typed.mask_values(PiiKind.DATE_OF_BIRTH, values)
            assert _sql_values(typed, PiiKind.DATE_OF_BIRTH, values, sql_type) == expected
    numbers = [4111111111111111, None, 12]
    card = Masker(DEFAULT_RULES, KEY)
    assert card.mask_values(PiiKind.PAYMENT_CARD, numbers) == ["************1111", None, "**"]
    assert _sql_values(card, PiiKind.PAYMENT_CARD, numbers, "BIGINT") == card.mask_values(
        PiiKind.PAYMENT_CARD, numbers
    )
    # Knowing the column's type, a date of birth is generalised with year(): the same years.
    for sql_type, values in (("DATE", dates), ("TIMESTAMP", stamps)):
        with duckdb.connect() as connection:
            connection.execute(f"CREATE TABLE t (v {sql_type})")
            connection.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
            expression = masker.sql(PiiKind.DATE_OF_BIRTH, "v", sql_type)
            assert "year(v)" in expression
            rows = connection.execute(f"SELECT {expression} FROM t").fetchall()
        typed_years = [row[0] for row in rows]
        assert typed_years == masker.mask_values(PiiKind.DATE_OF_BIRTH, values)
    assert masker.mask(PiiKind.DATE_OF_BIRTH, date(1850, 1, 1)) == 1850
    typed_arrow = masker.mask_arrow(PiiKind.DATE_OF_BIRTH, pa.array(dates))
    assert typed_arrow.type == pa.int32()


def test_what_each_rule_shows() -> None:
    masker = Masker(DEFAULT_RULES, KEY)
    assert masker.mask(PiiKind.NATIONAL_ID, "123-45-6789") == "[redacted]"
    assert masker.mask(PiiKind.PHONE, "+44 20 7946 0018") == "************0018"
    assert masker.mask(PiiKind.PHONE, "0018") == "****"  # never shown whole
    assert masker.mask(PiiKind.DATE_OF_BIRTH, "17.05.1980") == 1980
    assert masker.mask_values(PiiKind.POSTAL_ADDRESS, VALUES[PiiKind.POSTAL_ADDRESS]) == [
        "SW1A", "205", "1012", "M5H", "10", "101", None, None,
    ]  # fmt: skip
    assert masker.mask_values(PiiKind.IP_ADDRESS, VALUES[PiiKind.IP_ADDRESS]) == [
        "192.168.10.0/24", "10.0.0.0/24", "2001:db8:85a3::/48", None, None, None, None, None,
        None, "2001:db8:1::/48", None, None, "2001:db8:ab::/48", "1.2.3.0/24", None, None, None,
        None, None,
    ]  # fmt: skip
    assert masker.mask(PiiKind.EMAIL, None) is None


def test_pseudonyms_are_keyed_deterministic_and_join() -> None:
    masker = Masker(DEFAULT_RULES, KEY)
    one = masker.mask(PiiKind.EMAIL, "ada@example.org")
    # SHA-256 of a 16-byte prefix derived from the key, then the value: 16 hex digits.
    prefix = hmac.new(KEY, b"atelier pii pseudonym prefix", hashlib.sha256).digest()[:16]
    expected = hashlib.sha256(prefix + b"ada@example.org").hexdigest()[:16]
    assert one == expected == masker.mask(PiiKind.PERSON_NAME, "ada@example.org")
    assert masker.pseudonym_prefix == prefix
    assert one != masker.mask(PiiKind.EMAIL, "ADA@example.org")
    assert one != Masker(DEFAULT_RULES, b"other key").mask(PiiKind.EMAIL, "ada@example.org")
    # Not a plain hash: without the key a guess cannot be checked.
    assert one not in hashlib.sha256(b"ada@example.org").hexdigest()
    # Joins and distinct counts work on the masked columns.
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TABLE a AS SELECT * FROM (VALUES ('x@y.z', 1), ('u@v.w', 2), ('x@y.z', 3)) "
            "t(email, n)"
        )
        connection.execute(
            "CREATE TABLE b AS SELECT * FROM (VALUES ('x@y.z', 'gold')) t(email, tier)"
        )
        a = masker.sql(PiiKind.EMAIL, "a.email")
        b = masker.sql(PiiKind.EMAIL, "b.email")
        joined = connection.execute(
            f"SELECT count(*), count(DISTINCT {a}) FROM a JOIN b ON {a} = {b}"
        ).fetchone()
        distinct = connection.execute(f"SELECT count(DISTINCT {a}) FROM a").fetchone()
    assert joined == (2, 1) and distinct == (2,)
    assert "k" * 32 not in repr(masker) and prefix.hex() not in repr(masker)


def test_the_pseudonyms_prefix_can_come_from_a_variable_and_stay_out_of_the_sql() -> None:
    masker = Masker(DEFAULT_RULES, KEY)
    values = VALUES[PiiKind.PERSON_NAME] + ["x" * 39, "y" * 40, "z" * 200, "a\nb", "💥"]
    expression = masker.sql(PiiKind.PERSON_NAME, "v", prefix_sql="getvariable('p')")
    assert masker.pseudonym_prefix.hex() not in expression and KEY.hex() not in expression
    # Without prefix_sql the prefix is a literal (for callers that keep the SQL to themselves).
    assert masker.pseudonym_prefix.hex() in masker.sql(PiiKind.PERSON_NAME, "v")
    with duckdb.connect() as connection:
        connection.execute("SET VARIABLE p = ?::BLOB", [masker.pseudonym_prefix])
        connection.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
        rows = connection.execute(f"SELECT {expression} FROM t ORDER BY i").fetchall()
    # Values over one SHA-256 block with the prefix (40 bytes and more) hash alike too.
    assert [row[0] for row in rows] == masker.mask_values(PiiKind.PERSON_NAME, values)
    # Another key gives another prefix, and so other pseudonyms for every value.
    other = Masker(DEFAULT_RULES, b"K" * 32)
    assert other.pseudonym_prefix != masker.pseudonym_prefix
    mine, others = (m.mask_values(PiiKind.PERSON_NAME, values) for m in (masker, other))
    assert not {v for v in mine if v is not None} & set(others)


#: Characters that make or break the forms the rules look for, and some that look like them.
_ALPHABET = "0123456789.:abcdefABCDEF x\n\t\u0661\uff11\U0001d7d9\u00e9\u212a\u0130*-/"
_TEXTS = st.lists(
    st.one_of(
        st.text(_ALPHABET, max_size=45),
        st.ip_addresses().map(str),
        st.tuples(st.sampled_from(["", " ", "  ", "\t"]), st.ip_addresses().map(str)).map(
            lambda pair: pair[0] + pair[1].upper() + pair[0]
        ),
        st.none(),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_TEXTS)
def test_python_and_duckdb_agree_on_any_text(values: list[str | None]) -> None:
    rules = {
        PiiKind.IP_ADDRESS: Rule("generalise"),
        PiiKind.EMAIL: Rule("pseudonym"),
        PiiKind.PHONE: Rule("partial", 4),
        PiiKind.DATE_OF_BIRTH: Rule("generalise"),
    }
    masker = Masker({**DEFAULT_RULES, **rules}, KEY)
    table = pa.table({"v": pa.array(values, pa.string())})
    with duckdb.connect() as connection:
        connection.register("t", table)
        for kind in rules:
            expression = masker.sql(kind, "v")
            found = [row[0] for row in connection.execute(f"SELECT {expression} FROM t").fetchall()]
            assert found == masker.mask_values(kind, values), kind
            assert masker.mask_arrow(kind, table.column("v")).to_pylist() == found, kind


def test_rules_are_parsed_and_overridden_with_clear_errors() -> None:
    assert parse_rule("partial:2") == Rule("partial", 2)
    assert parse_rule(" Generalize ") == Rule("generalise")
    assert str(parse_rule("partial")) == "partial:4"
    rules = rules_from({"email": "redact", "phone": "partial:2"})
    assert rules[PiiKind.EMAIL] == Rule("redact") and rules[PiiKind.PHONE] == Rule("partial", 2)
    assert rules[PiiKind.IBAN] == DEFAULT_RULES[PiiKind.IBAN]
    with pytest.raises(ConfigError, match=r"pii.rules.mail: no kind of personal data 'mail'"):
        rules_from({"mail": "redact"})
    with pytest.raises(ConfigError, match=r"pii.rules.email: email cannot be generalised"):
        rules_from({"email": "generalise"})
    with pytest.raises(ConfigError, match=r"pii.rules.phone: 'partial:0' is not a rule"):
        rules_from({"phone": "partial:0"})
    with pytest.raises(ValueError, match=r"rules.phone: 'hash' is not a rule"):
        Settings(pii={"rules": {"phone": "hash"}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_grant_days"):
        Settings(pii={"max_grant_days": 0})  # type: ignore[arg-type]


def test_the_pseudonym_key_is_made_once_sealed_and_never_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    shutil.copyfile(TEMPLATES.sqlite(), tmp_path / "meta.db")
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    sealer = load_sealer(tmp_path / "private", environ={})
    caplog.set_level(logging.DEBUG)
    try:
        first = PiiPolicies(db, sealer, PiiSettings()).masker()
        again = PiiPolicies(db, sealer, PiiSettings(rules={"email": "redact"}))
        assert again.masker().mask(PiiKind.PERSON_NAME, "Ada") == first.mask(
            PiiKind.PERSON_NAME, "Ada"
        )
        key = first._key
        with db.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT sealed FROM pii_keys").fetchall()
        assert len(stored) == 1
        import base64

        for shown in (base64.b64encode(key).decode(), key.hex()):
            assert shown not in stored[0][0]
            assert shown not in str(again.describe()) and shown not in caplog.text
        described = {rule["kind"]: rule for rule in again.describe()}
        assert described["email"] == {
            "kind": "email", "rule": "redact", "default": False, "default_rule": "pseudonym",
        }  # fmt: skip
        # A rotated workspace key (the new one first, the old after) opens it and seals it
        # again with the new one, so the old key can then be removed.
        from cryptography.fernet import Fernet

        new_key = Fernet.generate_key().decode()
        old_keys = (tmp_path / "private" / "secrets_key").read_text().strip()
        rotating = load_sealer(
            tmp_path / "x", environ={"ATELIER_SECRETS_KEY": f"{new_key},{old_keys}"}
        )
        assert PiiPolicies(db, rotating, PiiSettings()).masker()._key == key
        only_new = load_sealer(tmp_path / "x", environ={"ATELIER_SECRETS_KEY": new_key})
        assert PiiPolicies(db, only_new, PiiSettings()).masker()._key == key
        # Another workspace key cannot open it: a clear error, not another pseudonym.
        other = load_sealer(tmp_path / "other", environ={})
        with pytest.raises(Exception, match="pseudonym key of personal data does not open"):
            PiiPolicies(db, other, PiiSettings()).masker()
    finally:
        db.dispose()
