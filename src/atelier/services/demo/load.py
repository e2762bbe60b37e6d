"""Loading the demo bank into a workspace's warehouse (``atelier up --demo``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from atelier.backends.warehouse.sql import ident
from atelier.services.demo.bank import TABLES, generate

if TYPE_CHECKING:
    from atelier.backends.warehouse import Warehouse
    from atelier.services.catalog.pii import PiiTags

log = logging.getLogger(__name__)

SCHEMA = "bank"


def load_demo(
    warehouse: Warehouse,
    *,
    scale: float = 1.0,
    author: str,
    progress: Callable[[str], None] | None = None,
    pii_tags: PiiTags | None = None,
) -> dict[str, int]:
    """Write the demo bank into schema ``bank`` of the lake as one snapshot by ``author`` and
    return its row counts; do nothing (and return ``{}``) when ``bank.customers`` exists.
    With ``pii_tags``, the personal data of its tables is classified and the tags confirmed
    as ``author``'s (the demo's data is known: see :func:`tag_personal_data`)."""
    counts = _load(warehouse, scale=scale, author=author, progress=progress)
    if counts and pii_tags is not None:
        if progress is not None:
            progress("personal data")
        tag_personal_data(pii_tags, author)
    return counts


def tag_personal_data(pii_tags: PiiTags, author: str) -> dict[str, int]:
    """Classify the demo bank's tables and confirm what is found as ``author``'s tags; the
    number of tagged columns per table. A failure is logged: the demo stays loaded."""
    tagged: dict[str, int] = {}
    for table in TABLES:
        try:
            tagged[table] = pii_tags.confirm_findings(f"{SCHEMA}.{table}", author)
        except Exception:
            log.exception("tagging the personal data of %s.%s failed", SCHEMA, table)
    return tagged


def _load(
    warehouse: Warehouse,
    *,
    scale: float,
    author: str,
    progress: Callable[[str], None] | None,
) -> dict[str, int]:
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
