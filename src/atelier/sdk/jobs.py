"""``ws.run(...)`` and ``ws.jobs``: jobs from Python, the same for both clients.

::

    job = ws.run("train.py", project="churn", profile="small", params={"lr": 0.01})
    for text in ws.jobs.follow(job["id"]): print(text, end="")
    ws.jobs.get(job["id"])["state"]        # queued, running, succeeded, failed, ...
    ws.jobs.list(); ws.jobs.logs(5); ws.jobs.cancel(5); ws.jobs.profiles()

The embedded client calls the workspace's jobs service; the remote one ``/api/v1/jobs``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atelier.sdk.remote import RemoteClient
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


#: A list of jobs or profiles (named here: the classes' ``list`` method shadows the builtin).
Listing = list[dict[str, Any]]


class Jobs(ABC):
    """The jobs of a workspace and the compute profiles they run on."""

    @abstractmethod
    def submit(
        self,
        target: list[str],
        *,
        project: str | None = None,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Queue a job: ``["train.py", ARGS...]``, ``["report.ipynb"]`` or a command."""

    @abstractmethod
    def list(self, *, state: str | None = None, mine: bool = False) -> Listing:
        """Jobs, newest first."""

    @abstractmethod
    def get(self, job_id: int) -> dict[str, Any]:
        """One job: state, reason, exit code, duration, MLflow run, ..."""

    @abstractmethod
    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        """Log text from byte ``offset``, the next offset, and whether the job has ended."""

    @abstractmethod
    def cancel(self, job_id: int) -> dict[str, Any]:
        """Stop the job and everything it started."""

    @abstractmethod
    def profiles(self) -> Listing:
        """Compute profiles, with whether the backend can run them."""

    def logs(self, job_id: int) -> str:
        """The job's output so far (stdout and stderr together)."""
        parts: list[str] = []
        offset = 0
        while True:
            text, offset, _ = self.read_log(job_id, offset)
            if not text:
                return "".join(parts)
            parts.append(text)

    def follow(self, job_id: int, *, poll: float = 0.25) -> Iterator[str]:
        """The output as it comes, until the job has ended."""
        offset = 0
        while True:
            text, offset, final = self.read_log(job_id, offset)
            if text:
                yield text
            elif final:
                return
            else:
                time.sleep(poll)

    def wait(self, job_id: int, timeout: float | None = None) -> dict[str, Any]:
        """The job once it has ended (or as it is when ``timeout`` seconds have passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["final"] or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(0.25)


class EmbeddedJobs(Jobs):
    def __init__(self, workbench: Workbench, principal: Principal) -> None:
        self.service = workbench.jobs
        self.principal = principal

    def submit(
        self,
        target: list[str],
        *,
        project: str | None = None,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        job = self.service.submit(
            target,
            principal=self.principal,
            project=project,
            profile=profile,
            params=params or {},
            cwd=Path.cwd(),
        )
        return job.as_dict()

    def list(self, *, state: str | None = None, mine: bool = False) -> Listing:
        user = self.principal.name if mine else None
        return [job.as_dict() for job in self.service.list(state=state, user=user)]

    def get(self, job_id: int) -> dict[str, Any]:
        return self.service.get(job_id).as_dict()

    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        final = self.service.get(job_id).final
        text, offset = self.service.read_log(job_id, offset)
        return text, offset, final

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self.service.cancel(job_id, principal=self.principal).as_dict()

    def profiles(self) -> Listing:
        return self.service.profiles()


class RemoteJobs(Jobs):
    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    def submit(
        self,
        target: list[str],
        *,
        project: str | None = None,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"target": target, "project": project, "profile": profile, "params": params or {}}
        created: dict[str, Any] = self.client.request("POST", "/jobs", json=body).json()
        return created

    def list(self, *, state: str | None = None, mine: bool = False) -> Listing:
        query: dict[str, Any] = {"mine": mine} | ({"state": state} if state else {})
        listed: Listing = self.client.request("GET", "/jobs", params=query).json()
        return listed

    def get(self, job_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.client.request("GET", f"/jobs/{int(job_id)}").json()
        return found

    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        chunk = self.client.request(
            "GET", f"/jobs/{int(job_id)}/logs", params={"offset": offset}
        ).json()
        return str(chunk["text"]), int(chunk["offset"]), bool(chunk["final"])

    def cancel(self, job_id: int) -> dict[str, Any]:
        done: dict[str, Any] = self.client.request("POST", f"/jobs/{int(job_id)}/cancel").json()
        return done

    def profiles(self) -> Listing:
        listed: Listing = self.client.request("GET", "/profiles").json()
        return listed
