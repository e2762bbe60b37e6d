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
