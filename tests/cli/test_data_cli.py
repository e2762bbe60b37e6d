"""``atelier data``: list, show, profile, tag, describe, run as users run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import atelier, one_line_error, workspace_with


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return workspace_with(
        tmp_path,
        "CREATE SCHEMA sales; CREATE TABLE sales.orders AS "
        "SELECT i AS order_id, i % 2 = 0 AS paid FROM range(10) r(i)",
    )


def test_list_show_profile(ws: Path) -> None:
    listed = atelier("data", "list", "-w", str(ws))
    assert listed.returncode == 0, listed.stderr
    assert "sales.orders" in listed.stdout and "ada" in listed.stdout

    shown = atelier("data", "show", "sales.orders", "-w", str(ws))
    assert "rows 10" in shown.stdout and "paid" in shown.stdout and "Versions:" in shown.stdout

    profile = json.loads(atelier("data", "profile", "sales.orders", "-w", str(ws), "--json").stdout)
    paid = next(c for c in profile["columns"] if c["name"] == "paid")
    assert profile["rows"] == 10 and paid["top_values"][0]["count"] == 5

    error = one_line_error(atelier("data", "show", "sales.nope", "-w", str(ws)))
    assert "no table sales.nope" in error


def test_tag_and_describe(ws: Path) -> None:
    tagged = atelier("data", "tag", "sales.orders", "finance", "gold", "-w", str(ws))
    assert tagged.stdout.strip() == "sales.orders: finance, gold"
    untagged = atelier("data", "tag", "sales.orders", "--remove", "gold", "-w", str(ws))
    assert untagged.stdout.strip() == "sales.orders: finance"
    described = atelier("data", "describe", "sales.orders", "All orders", "-w", str(ws))
    assert described.stdout.strip() == "Description of sales.orders saved"
    listed = json.loads(atelier("data", "list", "-w", str(ws), "--json", "-s", "finance").stdout)
    assert [(t["name"], t["description"]) for t in listed] == [("sales.orders", "All orders")]
