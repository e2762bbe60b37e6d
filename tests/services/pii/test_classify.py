"""Classifying whole tables: the kinds found, the sample taken, what evidence may say, and the
score on the labelled corpus of bench/pii."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from atelier.errors import InvalidInput
from atelier.services.pii import ColumnFinding, PiiKind, classify

CUSTOMERS: dict[str, list[Any]] = {
    "customer_id": list(range(1000, 1040)),
    "full_name": [
        "Ada Lovelace", "Jürgen Schäfer", "María José García", "Jean-Pierre Dubois",
        "Giulia Rossi", "Anouk van den Berg", "Priya Sharma", "Hiroshi Sato",
    ] * 5,
    "email": [f"user{i}@example.{tld}" for i, tld in enumerate(["com", "de", "fr", "nl"] * 10)],
    "phone": ["+44 20 7946 0958", "+49 30 12345678", "+33 1 42 68 53 00", "+1 415-555-0132"] * 10,
    "iban": ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"] * 20,
    "born": [date(1950, 1, 1) + timedelta(days=397 * i) for i in range(40)],
    "signup": [datetime(2024, 1, 1, 9, 30) + timedelta(hours=7 * i) for i in range(40)],
    "plan": ["Premium", "Gold", "Standard", "Student Plus"] * 10,
    "checksum": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)],
    "version": [f"1.{i}.{i % 7}" for i in range(40)],
    "balance": [i * 10.5 for i in range(40)],
}  # fmt: skip


def kinds(findings: list[ColumnFinding]) -> dict[str, str]:
    return {f.column: f.kind.value for f in findings}


def test_a_customer_table() -> None:
    found = kinds(classify(pa.table(CUSTOMERS)))
    assert found == {
        "full_name": "person_name",
        "email": "email",
        "phone": "phone",
        "iban": "iban",
        "born": "date_of_birth",  # dates of adults over decades, though the name says nothing
    }


def test_a_mapping_of_sampled_values_and_a_choice_of_columns() -> None:
    found = classify(CUSTOMERS, ["email", "plan"])
    assert [(f.column, f.kind, f.matched, f.checked) for f in found] == [
        ("email", PiiKind.EMAIL, 40, 40)
    ]


def test_unknown_columns_are_named() -> None:
    with pytest.raises(InvalidInput, match="no column 'emial' in the table"):
        classify(pa.table(CUSTOMERS), ["emial"])
    with pytest.raises(InvalidInput, match="no column 'emial' in the sample"):
        classify(CUSTOMERS, ["emial"])


def test_evidence_never_quotes_a_value() -> None:
    """Findings are stored as tags and shown to people who may not see the data."""
    for finding in classify(pa.table(CUSTOMERS), threshold=0.0):
        for value in CUSTOMERS[finding.column]:
            assert str(value) not in finding.evidence
            for label in finding.formats:
                assert str(value) != label


def test_a_big_sorted_table_is_sampled_across_its_length() -> None:
    """PII only in the last tenth of a 300,000-row table sorted by it is still found, from a
    sample of 2,000 rows; the same table gives the same findings twice."""
    rows = 300_000
    emails = [None] * (rows - rows // 10) + [f"c{i}@example.org" for i in range(rows // 10)]
    table = pa.table({"contact": emails, "n": pa.array(range(rows))})
    first = classify(table)
    assert kinds(first) == {"contact": "email"}
    assert first[0].checked <= 2000 and first[0].matched == first[0].checked
    assert classify(table) == first


def test_nulls_empty_strings_and_name_only_columns() -> None:
    table = pa.table({"email": pa.array([None, ""] * 10, pa.string()), "ssn": ["n/a"] * 20})
    assert classify(table) == []  # the names alone stay under the default threshold
    weak = classify(table, threshold=0.3)
    assert {(f.column, f.kind.value, f.confidence, f.matched) for f in weak} == {
        ("email", "email", 0.4, 0),
        ("ssn", "national_id", 0.4, 0),
    }


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("email_hash", [hashlib.sha256(f"u{i}@x.com".encode()).hexdigest() for i in range(50)]),
        ("order_id", [4_000_000_000 + 7919 * i for i in range(50)]),  # ten digits, like phones
        ("ref", [str(10**15 + 104_729 * i) for i in range(50)]),  # some pass Luhn by chance
        ("imei", ["356938035643809", "490154203237518", "353918050361297"] * 10),
        ("postcode", ["NW1 6XE", "10115", "75002", "1017 GC"] * 10),
        ("order_date", [date(2022, 1, 1) + timedelta(days=9 * i) for i in range(50)]),
        ("created_at", [datetime(1980, 1, 1, 13, 5) + timedelta(days=400 * i) for i in range(50)]),
        ("build", [f"{i % 9}.{i % 5}.0.{1000 + i}" for i in range(50)]),
        ("city", ["Paris", "Florence", "Victoria", "Charlotte", "Regina"] * 10),
        ("review", ["Great product, arrived in two days and works as described."] * 20),
    ],
)
def test_decoys(column: str, values: list[object]) -> None:
    assert classify({column: values}) == []


def test_free_text_with_some_personal_data() -> None:
    notes = ["Card blocked after three wrong PIN entries, unblocked at the branch."] * 45
    notes += [
        "Please reply to ada@example.com instead.",
        "Call back on +44 20 7946 0958 after 5pm.",
        "Frau Schneider moved to Hauptstraße 5, 10115 Berlin.",
        "Mr Smith wants the transfer to DE89 3704 0044 0532 0130 00 cancelled.",
        "Verified identity with SSN 536-90-4399.",
    ]
    [finding] = classify({"remarks": notes})
    assert finding.kind is PiiKind.FREE_TEXT_WITH_PII and finding.matched == 5
    assert finding.confidence >= 0.8


def test_the_labelled_corpus_meets_its_goals() -> None:
    """The bench's corpus (bench/pii/corpus.py) as a regression test: precision >= 0.9 and
    recall >= 0.95 over the three sets of columns."""
    from bench.pii.classify import quality
    from bench.pii.corpus import corpus, held_out
    from bench.pii.fresh import fresh

    tp = fp = fn = 0
    for columns in (corpus(rows=120), held_out(rows=120), fresh(rows=120)):
        counts, _ = quality(columns)
        tp += sum(c["tp"] for c in counts.values())
        fp += sum(c["fp"] for c in counts.values())
        fn += sum(c["fn"] for c in counts.values())
    assert tp + fn >= 60
    assert tp / (tp + fp) >= 0.9 and tp / (tp + fn) >= 0.95


def test_numbers_stored_as_integers() -> None:
    table = pa.table(
        {
            "card_number": pa.array([4111111111111111, 5500000000000004] * 20, pa.int64()),
            "phone": pa.array([4155550132, 2125550199] * 20, pa.int64()),  # bare: needs the name
            "customer_no": pa.array([4155550132, 2125550199] * 20, pa.int64()),
        }
    )
    assert kinds(classify(table)) == {"card_number": "payment_card", "phone": "phone"}


def test_a_huge_cell_is_read_by_its_beginning() -> None:
    """Ten megabytes of digits and dots in one cell: classified quickly, by the first part."""
    call = "Please call the customer back on +44 20 7946 0958 today. "
    huge = call + "1.2.3.4 " * 1_250_000
    [finding] = classify({"notes": [huge, call, "Nothing to report on this account today."]})
    assert finding.kind is PiiKind.FREE_TEXT_WITH_PII and finding.matched == 2


def test_columns_of_more_countries_with_nulls_empties_and_spaces() -> None:
    n = 60
    messy = [None, "", "  "]
    table = {
        "dob_int": [19400129 + 10000 * i for i in range(n)],  # yyyymmdd, the name says so
        "birth_date": [f"{1 + i % 28} May {1940 + i}" for i in range(n)],
        "peer": [f"203.0.113.{i + 1}:{40000 + i}" for i in range(n)] + messy,
        "client_addr": [f"fe80::{i + 1:x}:1%eth0" for i in range(n)],
        "message": [
            f"pls write to user{i} at example dot com" if i % 4 == 0 else "Parcel collected."
            for i in range(n)
        ],
        "customer_name": ["  maria garcia", "li wei ", "john smith", "anna kowalska"] * 15,
        "pacjent": ["Kowalska, Agnieszka", "Wiśniewski, Grzegorz", "Mazur, Urszula"] * 20,
    }
    found = {f.column: f.kind.value for f in classify(table)}
    assert found == {
        "dob_int": "date_of_birth",
        "birth_date": "date_of_birth",
        "peer": "ip_address",
        "client_addr": "ip_address",
        "message": "free_text_with_pii",
        "customer_name": "person_name",
        "pacjent": "person_name",
    }


def test_more_decoys() -> None:
    n = 60
    table = {
        # Dates of buildings over a century: older than any living person.
        "construction_date": [date(1900, 1, 1) + timedelta(days=600 * i) for i in range(n)],
        "lat": [f"{-55.5 + 2.1 * i:.6f}" for i in range(n)],
        "subnet": [f"10.{i}.{2 * i}.0/24" for i in range(n)],
        "name": ["Müller GmbH", "Smith & Sons Ltd", "Rossi Costruzioni S.p.A.", "Nowak Sp. z o.o."]
        * 15,
        "isbn": ["0-306-40615-2", "3-16-148410-0", "0-19-852663-6"] * 20,
        "email_sent": [True, False] * 30,
        "notes": ["available at docs.example.org", "arrived at noon.Then left"] * 30,
    }
    assert classify(table) == []
