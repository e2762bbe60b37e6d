"""Classifying a warehouse table by name, on a real DuckLake (SQLite catalog)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from atelier.backends.warehouse import Warehouse
from atelier.errors import InvalidInput, NotFound
from atelier.services.pii import PiiClassifier


@dataclass
class Bench:
    warehouse: Warehouse


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> PiiClassifier:
    root = tmp_path_factory.mktemp("pii-lake")
    warehouse = Warehouse(root / "lake.sqlite", root / "lake", extension_directory=root / "ext")
    with warehouse.connect() as connection:
        connection.execute("CREATE SCHEMA bank")
        connection.execute(
            """CREATE TABLE bank.customers AS SELECT
                i AS id,
                ['Ada', 'Jürgen', 'María', 'Giulia', 'Priya'][i % 5 + 1] || ' ' ||
                    ['Lovelace', 'Schäfer', 'García', 'Rossi', 'Sharma'][i % 3 + 1] AS name,
                'user' || i || '@example.org' AS email,
                DATE '1950-01-01' + (i * 37 % 20000)::INT AS date_of_birth,
                TIMESTAMP '2024-01-01 09:30:00' + to_seconds(i * 61) AS signed_up,
                'SKU-' || (10000 + i % 90000) AS last_product
            FROM range(50000) r(i)"""
        )
    return PiiClassifier(Bench(warehouse))


def test_a_warehouse_table_by_name(classifier: PiiClassifier) -> None:
    findings = classifier.classify_table("bank.customers", sample_rows=1000)
    assert {f.column: f.kind.value for f in findings} == {
        "name": "person_name",
        "email": "email",
        "date_of_birth": "date_of_birth",
    }
    assert all(f.checked == 1000 for f in findings)
    assert classifier.classify_table("bank.customers", sample_rows=1000) == findings


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("bank.nobody", NotFound, "no table bank.nobody"),
        ('bank.x"; DROP SCHEMA bank CASCADE; --', NotFound, "no table"),  # quoted, not run
        ('bank.customers" ; DROP TABLE bank.customers; --', InvalidInput, "is not valid"),
        ("a.b.c", InvalidInput, "table name 'a.b.c' is not valid"),
        ("", InvalidInput, "table name '' is not valid"),
    ],
)
def test_bad_names_are_refused_without_side_effects(
    classifier: PiiClassifier, name: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        classifier.classify_table(name)
    assert classifier.classify_table("bank.customers", sample_rows=10)  # still there


@pytest.mark.parametrize("rows", [0, -5, True, "100"])
def test_the_sample_size_is_checked(classifier: PiiClassifier, rows: object) -> None:
    with pytest.raises(InvalidInput, match="sample_rows must be a positive number of rows"):
        classifier.classify_table("bank.customers", sample_rows=rows)  # type: ignore[arg-type]
