"""What a user query can end in besides rows: a timeout, a cancel, or DuckDB's own error.

DuckDB's messages already say what is wrong and where (``LINE 1: … ^``), so they are passed on
as they are, only with the credentials of attached sources taken out.
"""

from __future__ import annotations

from collections.abc import Iterable

from atelier.backends.warehouse.errors import redact
from atelier.errors import AtelierError, Conflict, InvalidInput


class QueryTimeout(AtelierError):
    """The query ran longer than its timeout and was interrupted."""

    status_code = 408


class QueryCancelled(Conflict):
    """Someone (the query's owner or an admin) cancelled the query."""


def query_error(error: BaseException, secrets: Iterable[str] = ()) -> AtelierError | None:
    """The user-facing error for a failure of DuckDB (or of Arrow reading DuckDB's stream);
    None for anything else, which is a bug to let through."""
    import duckdb
    import pyarrow

    if isinstance(error, AtelierError):
        return error
    # Arrow re-raises DuckDB's errors met while streaming as OSError (DuckDB's message kept).
    if not isinstance(error, duckdb.Error | pyarrow.ArrowException | OSError):
        return None
    message = redact(str(error), secrets).strip() or type(error).__name__
    if "Out of Memory Error" in message:
        return InvalidInput(
            f"{message}\nThe query needs more memory than query.memory_limit allows: "
            "aggregate or filter more, or ask an admin to raise the limit."
        )
    return InvalidInput(message)
