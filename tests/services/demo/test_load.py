"""Loading the demo bank into a workspace's lake: one snapshot by the given author, once."""

from atelier.services.demo.load import load_demo
from atelier.services.workbench import Workbench


def test_load_demo_once_as_one_snapshot(workbench: Workbench) -> None:
    steps: list[str] = []
    counts = load_demo(workbench.warehouse, scale=0.01, author="ada", progress=steps.append)

    assert counts["customers"] == 100 and set(counts) == set(steps)
    tables = {f"{t.schema}.{t.name}": t.row_count for t in workbench.warehouse.tables()}
    assert tables["bank.transactions"] == counts["transactions"]
    (snapshot,) = workbench.warehouse.snapshots("customers", schema="bank")
    assert snapshot.author == "ada" and snapshot.message == "demo bank"
    assert workbench.catalog.describe("bank.accounts").entry.owner == "ada"

    assert load_demo(workbench.warehouse, scale=0.01, author="someone") == {}


def test_the_demo_banks_personal_data_is_tagged_and_confirmed(workbench: Workbench) -> None:
    load_demo(workbench.warehouse, scale=0.01, author="ada", pii_tags=workbench.pii_tags)
    customers = {t.column: t for t in workbench.pii_tags.stored("bank.customers").columns}
    assert {c: t.kind for c, t in customers.items()} == {
        "first_name": "person_name",
        "last_name": "person_name",
        "email": "email",
        "phone": "phone",
        "street_address": "postal_address",
        "date_of_birth": "date_of_birth",
    }
    assert {t.state for t in customers.values()} == {"confirmed"}
    assert {t.decided_by for t in customers.values()} == {"ada"}
    assert "signup_date" not in customers and "segment" not in customers
