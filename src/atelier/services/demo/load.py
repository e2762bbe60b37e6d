"""Loading the demo bank into a workspace's warehouse (``atelier up --demo``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from atelier.backends.warehouse.sql import ident
from atelier.services.demo.bank import generate

if TYPE_CHECKING:
    from atelier.backends.warehouse import Warehouse

SCHEMA = "bank"


def load_demo(
    warehouse: Warehouse,
    *,
    scale: float = 1.0,
    author: str,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the demo bank into schema ``bank`` of the lake as one snapshot by ``author`` and
    return its row counts; do nothing (and return ``{}``) when ``bank.customers`` exists."""
    with warehouse.connect() as connection:
        found = connection.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = ? AND schema_name = ? AND table_name = 'customers'",
            [warehouse.alias, SCHEMA],
        ).fetchone()
        if found and found[0]:
            return {}
        started = False

        def step(name: str) -> None:
            nonlocal started
            # generate() opens its own transaction before the first step; the commit message
            # (the snapshot's author) can only be set inside it.
            if not started:
                connection.execute(
                    f"CALL {ident(warehouse.alias)}.set_commit_message(?, ?)",
                    [author, "demo bank"],
                )
                started = True
            if progress is not None:
                progress(name)

        return generate(connection, scale=scale, schema=SCHEMA, progress=step, replace=False)
