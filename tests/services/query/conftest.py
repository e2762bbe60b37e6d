"""Query service fixtures: a small versioned table, a service with stand-in sources."""

from __future__ import annotations

import pytest

from atelier.config.settings import QuerySettings
from atelier.services.query import QueryService
from atelier.services.workbench import Workbench
from tests.services.query.running import StandInSources


@pytest.fixture
def sources() -> StandInSources:
    return StandInSources()


@pytest.fixture
def orders(workbench: Workbench) -> list[int]:
    """``shop.orders``: 3 rows at its first version, 2 after a delete; the snapshot ids."""
    wh = workbench.warehouse
    wh.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.orders AS "
            "SELECT * FROM (VALUES (1, 'north', 9.5), (2, 'south', 20.0), (3, 'north', 4.25)) "
            "t(order_id, region, total)"
        ),
        author="ada",
    )
    wh.run_write(lambda c: c.execute("DELETE FROM shop.orders WHERE order_id = 2"), author="bob")
    return [s.snapshot_id for s in wh.snapshots("orders", schema="shop")]


@pytest.fixture
def service(workbench: Workbench, sources: StandInSources) -> QueryService:
    return QueryService(
        workbench.db,
        workbench.warehouse,
        sources,
        QuerySettings(timeout_seconds=60, memory_limit="1GB"),
    )
