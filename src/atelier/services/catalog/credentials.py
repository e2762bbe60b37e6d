"""Source credentials at rest: sealed with the workspace key, opened only to attach a source.

A row of ``source_credentials`` holds the secret fields of one source in ``sealed`` (see
:mod:`atelier.config.sealing`). Rows written before migration 0009 hold them in clear in
``secrets``: :func:`seal_stored` seals those when the workbench opens the database (the
migration cannot reach the key), and seals again with the first key what an older key sealed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from atelier.backends.metadata import Database, SourceCredential
from atelier.config.sealing import Sealer, SealError

log = logging.getLogger(__name__)


def seal(sealer: Sealer, secrets: dict[str, str]) -> dict[str, Any]:
    """Column values of a credential row holding ``secrets``."""
    return {"secrets": {}, "sealed": sealer.seal(secrets)}


def unseal(sealer: Sealer, source: str, secrets: Any, sealed: str | None) -> dict[str, str]:
    """The secret fields of ``source``'s row (a row not yet sealed holds them in clear)."""
    if sealed is None:
        return dict(secrets or {})
    value = sealer.open(sealed, f"the credentials of source {source!r}")
    return {str(k): str(v) for k, v in dict(value).items()}


def seal_stored(db: Database, sealer: Sealer) -> int:
    """Seal every row still in clear, and seal again with the first key every row an older
    key sealed; each in the same transaction that clears it. Returns how many changed."""
    changed = 0
    with db.session() as session:
        for row in session.scalars(select(SourceCredential)):
            if row.sealed is None:
                values = seal(sealer, dict(row.secrets or {}))
                row.sealed, row.secrets = values["sealed"], values["secrets"]
                changed += 1
            else:
                try:
                    rotated = sealer.rotate(row.sealed)
                except SealError as error:
                    # Not fatal here: only this source fails, with this message, when used.
                    log.warning("source %s: %s", row.source_id, error)
                    continue
                if rotated is not None:
                    row.sealed = rotated
                    changed += 1
    if changed and db.engine.dialect.name == "sqlite":
        # The replaced pages are zeroed (secure_delete) in the WAL; copy them over the
        # database file now and empty the WAL, so that no clear copy stays on disk.
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    if changed:
        log.info(
            "sealed the credentials of %d source(s) with the key from %s", changed, sealer.origin
        )
    return changed


__all__ = ["seal", "seal_stored", "unseal"]
