"""One materialization of a feature view at a time, whichever server (or thread) runs it.

Two materializations of one view at once would both write its online store (a full run
replaces the view's records, so the last writer's values win, whichever ran as of the earlier
moment) and both record a run, and the next incremental run would build on either. So a
materialization holds the lease ``materialize:VIEW`` (:mod:`atelier.services.leases`) for its
duration, kept renewed by the server's lease keeper; a second attempt, on another server or in
another thread of this one, is refused at once with who holds it. The lease is given back when
the run ends, also when it fails; a server that dies mid-run stops renewing it, so it runs out
within one lease duration and the view can be materialized again.

A refusal rather than a wait: a run can take minutes, and the caller is better told than
kept hanging (they can run it again once the other one ended).

Threads of one process share one lease holder (taking a lease one already holds renews it),
so this process's own runs are kept apart by a set of the views it is materializing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from atelier.errors import Conflict

if TYPE_CHECKING:
    from atelier.services.leases import LeaseKeeper

PREFIX = "materialize:"

_lock = threading.Lock()
#: ``(holder, view) -> start``: the views this process is materializing, by lease holder.
_running: dict[tuple[str, str], datetime] = {}


class MaterializationRunning(Conflict):
    """Another materialization of the view is under way."""


def lease_name(view: str) -> str:
    return f"{PREFIX}{view}"


@contextmanager
def materializing(keeper: LeaseKeeper, views: Sequence[str]) -> Iterator[None]:
    """Hold the materialization leases of ``views`` for the block, or refuse (before anything
    is written) when any of them is held elsewhere; every lease taken is given back after."""
    taken: list[str] = []
    try:
        for view in sorted(set(views)):
            _take(keeper, view)
            taken.append(view)
        yield
    finally:
        for view in reversed(taken):
            _give_back(keeper, view)


def _take(keeper: LeaseKeeper, view: str) -> None:
    key = (keeper.holder, view)
    with _lock:
        since = _running.get(key)
        if since is not None:
            raise _refusal(view, keeper.address or "this server", since)
        _running[key] = datetime.now(UTC)
    try:
        if keeper.start().take(lease_name(view)):
            return
    except BaseException:
        _forget(key)
        raise
    _forget(key)
    found = keeper.leases.get(lease_name(view))
    if found is None:  # given back in the meantime: the caller may simply try again
        raise MaterializationRunning(
            f"feature view {view!r} was being materialized by another server; try again"
        )
    raise _refusal(view, found.address or found.holder, found.acquired_at)


def _give_back(keeper: LeaseKeeper, view: str) -> None:
    keeper.give_back(lease_name(view))
    _forget((keeper.holder, view))


def _forget(key: tuple[str, str]) -> None:
    with _lock:
        _running.pop(key, None)


def _refusal(view: str, who: str, since: datetime) -> MaterializationRunning:
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)  # SQLite drops the zone
    when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return MaterializationRunning(
        f"feature view {view!r} is being materialized by {who} since {when}; try again when it ends"
    )
