"""The query service: user SQL over the warehouse and attached sources.

::

    result = wb.query.run("SELECT * FROM bank.customers", user="ada", timeout=30)
    table = result.to_arrow()              # or .to_pandas(), .to_polars(), .reader(), .batches()
    wb.query.cancel(result.query_id, "ada")                # from another thread
    wb.query.history("ada")                                # newest first

* one read-only statement per call, on a restricted DuckDB connection (no file access outside
  the lake, no ATTACH/INSTALL/LOAD/COPY/SET; see :mod:`atelier.backends.warehouse.guard`);
  warehouse tables as ``schema.table``, sources as ``source.schema.table``, time travel with
  ``FROM t AT (VERSION => n)``;
* results stream as Arrow record batches (nothing is materialised unless asked), which the
  API sends as Arrow IPC;
* every statement is recorded in ``query_history`` (running → ok, error, cancelled, timeout);
* a timer interrupts a statement at its timeout; :meth:`QueryService.cancel` interrupts it
  from any thread (its owner or an admin);
* :func:`chart_spec` builds the Vega-Lite chart the SQL page shows for a result.
"""

from atelier.services.query.chart import chart_spec
from atelier.services.query.errors import QueryCancelled, QueryTimeout
from atelier.services.query.history import QueryInfo
from atelier.services.query.result import Column, QueryResult
from atelier.services.query.service import QueryService, RunningQuery
from atelier.services.query.values import json_rows

__all__ = [
    "Column",
    "QueryCancelled",
    "QueryInfo",
    "QueryResult",
    "QueryService",
    "QueryTimeout",
    "RunningQuery",
    "chart_spec",
    "json_rows",
]
