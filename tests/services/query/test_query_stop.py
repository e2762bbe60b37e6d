"""Stopping queries: the timeout interrupts DuckDB, a cancel from another thread does too,
only the query's owner or an admin may cancel, and the history says how each one ended."""

from __future__ import annotations

import time

import pytest

from atelier.config.settings import QuerySettings
from atelier.errors import Conflict, NotFound, PermissionDenied
from atelier.services.query import QueryCancelled, QueryService, QueryTimeout
from atelier.services.workbench import Workbench
from tests.services.query.running import ENDLESS, Background, StandInSources, wait_for


def test_timeout_interrupts_a_long_query(service: QueryService) -> None:
    with pytest.raises(QueryTimeout, match=r"ran longer than its 0.3 s timeout") as stopped:
        service.run(ENDLESS, user="ada", timeout=0.3).to_arrow()
    assert stopped.value.status_code == 408
    entry = service.history("ada")[0]
    assert entry.status == "timeout" and "timeout" in (entry.error or "")
    assert service.running() == []
    # The service is fine afterwards.
    assert service.run("SELECT 1 AS x", user="ada").to_arrow().num_rows == 1


def test_the_configured_timeout_is_a_ceiling(workbench: Workbench) -> None:
    short = QueryService(
        workbench.db,
        workbench.warehouse,
        StandInSources(),
        QuerySettings(timeout_seconds=0.3, memory_limit="1GB"),
    )
    with pytest.raises(QueryTimeout, match=r"0\.3 s"):
        short.run(ENDLESS, user="ada", timeout=3600).to_arrow()


def test_timeout_while_rows_stream(service: QueryService) -> None:
    # A timeout that comes between two batches (nothing to interrupt) stops the next read.
    service.run("SELECT 1", user="ada").close()  # the lake exists: opening is quick now
    result = service.run("SELECT range FROM range(10000000000)", user="ada", timeout=3)
    batches = result.batches()
    assert next(batches).num_rows > 0
    time.sleep(3.2)
    with pytest.raises(QueryTimeout):
        next(batches)
    assert result.rows > 0 and result.status == "timeout"
    assert service.history("ada")[0].rows == result.rows


def test_cancel_from_another_thread(service: QueryService) -> None:
    running = Background(lambda: service.run(ENDLESS, user="ada", key="page-1").to_arrow())
    wait_for(lambda: service.running("ada"))
    [query] = service.running("ada")
    assert (query.sql, query.key, query.user) == (ENDLESS, "page-1", "ada")
    service.cancel(query.query_id, "ada")
    error = running.join()
    assert isinstance(error, QueryCancelled) and "cancelled by ada" in str(error)
    entry = service.history("ada")[0]
    assert (entry.query_id, entry.status) == (query.query_id, "cancelled")
    with pytest.raises(Conflict, match="not running: it ended with cancelled"):
        service.cancel(query.query_id, "ada")


def test_only_the_owner_or_an_admin_may_cancel(service: QueryService) -> None:
    running = Background(lambda: service.run(ENDLESS, user="ada").to_arrow())
    wait_for(lambda: service.running("ada"))
    query_id = service.running("ada")[0].query_id
    assert service.running("bob") == [] and len(service.running()) == 1
    with pytest.raises(PermissionDenied, match="belongs to ada"):
        service.cancel(query_id, "bob")
    service.cancel(query_id, "root", admin=True)
    error = running.join()
    assert isinstance(error, QueryCancelled) and "cancelled by root" in str(error)
    with pytest.raises(NotFound):
        service.cancel(999999, "ada")


def test_cancel_of_a_query_started_elsewhere(service: QueryService, workbench: Workbench) -> None:
    # A "running" row this process knows nothing about: another process's query.
    info = service.queries.start("ada", "SELECT 1")
    with pytest.raises(Conflict, match="not running in this server"):
        service.cancel(info.query_id, "ada")
