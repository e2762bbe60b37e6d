"""Jobs: a script, a notebook or a command run in a project's environment on a compute profile.

::

    job = workbench.jobs.submit(["train.py"], principal=me, project="churn", profile="small",
                                params=["lr=0.01"], cwd=Path.cwd())
    for text in workbench.jobs.follow(job.id): print(text, end="")
    workbench.jobs.get(job.id).state      # queued, running, succeeded, failed, cancelled, timed_out

* :mod:`.service` — submit (profile and request checked first), list, logs, cancel, profiles;
* :mod:`.queue` — starts queued jobs while the backend has room; finds lost supervisors again;
* :mod:`.supervisor` — one detached process per job: limits, state, cancel, the end;
* :mod:`.notebook` — runs a notebook with nbclient, papermill-style parameters injected;
* :mod:`.links` — the job's token, the Atelier URL and its MLflow run.

The package is light to import (the supervisor starts through it); the service is loaded on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atelier.services.jobs.model import JobInfo
    from atelier.services.jobs.service import Jobs

__all__ = ["JobInfo", "Jobs"]


def __getattr__(name: str) -> Any:
    if name == "Jobs":
        from atelier.services.jobs.service import Jobs

        return Jobs
    if name == "JobInfo":
        from atelier.services.jobs.model import JobInfo

        return JobInfo
    raise AttributeError(name)
