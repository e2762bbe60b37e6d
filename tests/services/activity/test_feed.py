"""Feeds: new versions of the tables I use, written by others, reach my feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import new_workspace
from tests.services.discussion.conftest import Scene, make_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = new_workspace(tmp_path_factory.mktemp("feed") / "ws")
    yield from make_scene(root, tracking=False)


def test_new_versions_of_my_tables_reach_my_feed(scene: Scene, tmp_path: Path) -> None:
    wb, p = scene.wb, scene.people
    first, more = tmp_path / "first.csv", tmp_path / "more.csv"
    first.write_text("id,score\n1,0.5\n")
    more.write_text("id,score\n2,0.7\n")
    wb.ingest.upload(first, "bank.customers", principal=p["ada"], client="test")
    wb.ingest.upload(more, "bank.customers", mode="append", principal=p["bob"], client="test")
    versions = [i for i in wb.activity.feed(p["ada"]) if i.kind == "table.version"]
    assert [i.actor for i in versions] == ["bob", "ada"]
    assert versions[0].link == "/data/tables/bank.customers"
    assert "bob wrote version" in versions[0].summary
    # A scientist who neither owns, wrote nor discussed the table is not told...
    assert not [i for i in wb.activity.feed(p["root"]) if i.kind == "table.version"]
    # ...until they discuss it; a viewer never sees tables.
    wb.discussion.post(p["root"], "table", "bank.customers", "who owns table:bank.customers@2?")
    assert [i.kind for i in wb.activity.feed(p["root"])][:1] == ["comment"]
    assert any(i.kind == "table.version" for i in wb.activity.feed(p["root"]))
    assert wb.activity.feed(p["val"]) == []
    comment = wb.discussion.thread(p["ada"], "table", "bank.customers")[0]
    assert 'href="/data/tables/bank.customers?version=2"' in str(comment.html)
