"""Runs logged in projects, as activity.

Runs are written to MLflow through its own API (the ``/mlflow`` gateway, a job's or a
notebook's ``mlflow.start_run``), not through a service of Atelier, so nothing records them as
they start. Instead, before a feed that holds a project is read, the runs started in that
project's experiments since the last run recorded are brought in as ``run`` events (at most
:data:`BATCH` a time, oldest first, each once). Webhooks therefore learn of a run when someone
next reads a feed of its project.

Asking MLflow costs two calls per project, so a server asks about one project at most once
every :data:`FRESH_SECONDS` (reading a feed again meanwhile asks nothing): a new run shows in
its project's feeds within that long. A look that found a full batch is no look: the next read
brings in the rest at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from atelier.backends.metadata.models import ActivityEvent
from atelier.services.activity.subjects import Subject

if TYPE_CHECKING:
    from atelier.backends.metadata import Database
    from atelier.config import Workspace
    from atelier.services.tracking.ownership import Ownership

log = logging.getLogger(__name__)

#: The most runs brought in per project and read.
BATCH = 50
#: Seconds after a look at a project's runs in MLflow before the next one.
FRESH_SECONDS = 10.0
PROJECT_TAG = "atelier.project"


def tracking_in_use(workspace: Workspace) -> bool:
    """Whether the workspace has MLflow's store already (a SQLite one is made on first use,
    which takes a while: reading a feed never makes it)."""
    from sqlalchemy.engine import make_url

    from atelier.services.tracking.store import TrackingStore

    store = TrackingStore.for_workspace(workspace)
    if store.dialect != "sqlite":
        return True
    return Path(make_url(store.backend_uri).database or "").exists()


class ProjectRuns:
    def __init__(
        self,
        db: Database,
        record: Callable[..., object],
        owners: Callable[[], Ownership | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``record`` is :meth:`Activity.record`; ``owners`` gives MLflow's store, or None
        while the workspace has none yet (then there is no run to bring in)."""
        self.db = db
        self.record = record
        self._owners = owners
        self.clock = clock
        #: When each project's runs were last looked up (by :attr:`clock`).
        self._looked: dict[str, float] = {}
        self._lock = threading.Lock()

    def sync(self, projects: Iterable[str]) -> None:
        """Record the runs started in ``projects`` since the last one recorded, for the
        projects not looked up in the last :data:`FRESH_SECONDS`; never raises."""
        now = self.clock()
        with self._lock:
            wanted = [
                project
                for project in sorted(set(projects))
                if now - self._looked.get(project, now - FRESH_SECONDS) >= FRESH_SECONDS
            ]
            # Claimed before asking: readers meanwhile do not ask MLflow the same again.
            self._looked.update((project, now) for project in wanted)
        if not wanted:
            return
        done: list[str] = []
        try:
            owners = self._owners()
            if owners is None:
                return
            for project in wanted:
                if not self._sync(owners, project):
                    done.append(project)
        except Exception:
            log.exception("could not bring runs into the activity of %s", ", ".join(wanted))
        finally:
            with self._lock:
                for project in wanted:
                    if project not in done and self._looked.get(project) == now:
                        del self._looked[project]  # not looked at in full: next read asks

    def _sync(self, owners: Ownership, project: str) -> bool:
        """Bring in the next runs of ``project``; whether more may wait (a full batch)."""
        client = owners.client
        quoted = project.replace("'", "")
        experiments = client.search_experiments(
            filter_string=f"tags.`{PROJECT_TAG}` = '{quoted}'", max_results=1000
        )
        if not experiments:
            return False
        names = {str(e.experiment_id): e.name for e in experiments}
        db = self.db
        with db.session() as session:
            latest = session.scalar(
                select(func.max(ActivityEvent.at)).where(
                    ActivityEvent.kind == "run", ActivityEvent.project == project
                )
            )
        since = f"attributes.start_time >= {int(latest.timestamp() * 1000)}" if latest else ""
        runs: list[Any] = list(
            client.search_runs(
                list(names),
                filter_string=since,
                max_results=BATCH,
                order_by=["attributes.start_time ASC"],
            )
        )
        if not runs:
            return False
        ids = [run.info.run_id for run in runs]
        with db.session() as session:
            known = set(
                session.scalars(
                    select(ActivityEvent.subject_id).where(
                        ActivityEvent.kind == "run", ActivityEvent.subject_id.in_(ids)
                    )
                )
            )
        for run in runs:
            if run.info.run_id in known:
                continue
            owner = run.data.tags.get("mlflow.user") or run.info.user_id or None
            experiment = names.get(str(run.info.experiment_id), run.info.experiment_id)
            label = run.info.run_name or run.info.run_id[:12]
            self.record(
                "run",
                Subject("run", run.info.run_id, project, owner),
                actor=owner,
                summary=f"{owner or 'someone'} started run {label} in experiment {experiment}",
                detail={"experiment_id": str(run.info.experiment_id), "name": run.info.run_name},
                at=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
            )
        return len(runs) == BATCH and len(known) < len(runs)
