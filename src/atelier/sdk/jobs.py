"""``ws.run(...)`` and ``ws.jobs``: jobs from Python, the same for both clients.

::

    job = ws.run("train.py", project="churn", profile="small", params={"lr": 0.01})
    job = ws.run("train.py", project="churn", tree=".")   # this checkout's files, not the server's
    for text in ws.jobs.follow(job["id"]): print(text, end="")
    ws.jobs.get(job["id"])["state"]        # queued, running, succeeded, failed, ...
    ws.jobs.list(); ws.jobs.logs(5); ws.jobs.cancel(5); ws.jobs.profiles()

The embedded client calls the workspace's jobs service; the remote one ``/api/v1/jobs``.
With ``tree``, the working tree (the files git would keep, see :mod:`atelier.sdk.tree`) is
packed and sent along; the job runs in its own copy of it, in the project's environment.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.contract.jobs import JOB_FIELD, TREE_FIELD, TREE_MEDIA_TYPE, Job, LogChunk, Profile
from atelier.errors import InvalidInput
from atelier.sdk.tree import Packed, find_checkout, pack

if TYPE_CHECKING:
    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


#: The first wait for a job's output; it grows to ``follow``'s ``poll``.
FIRST_POLL = 0.02
#: A list of jobs or profiles (named here: the classes' ``list`` method shadows the builtin).
Listing = list[dict[str, Any]]


class Jobs(ABC):
    """The jobs of a workspace and the compute profiles they run on."""

    def submit(
        self,
        target: list[str],
        *,
        project: str | None = None,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
        tree: str | Path | None = None,
        model_env: str | None = None,
    ) -> dict[str, Any]:
        """Queue a job: ``["train.py", ARGS...]``, ``["report.ipynb"]`` or a command.

        ``tree``: a folder whose files (those git would keep) travel with the job, which runs
        in its own copy of them; a script or notebook is looked for in the tree's folder that
        matches the current one. Without it the job runs on the server's files (the
        project's folder). ``model_env``: ``NAME@ALIAS`` (``NAME/VERSION``, ``NAME``), run in
        that model version's own environment (built from its lock) for batch scoring; the job
        finds the model's files at ``ATELIER_MODEL_PATH``. While that environment builds the
        error says so (HTTP 503); ask again."""
        if tree is None:
            return self._submit(
                list(target), project, profile, params or {}, None, "", model_env=model_env
            )
        packed = pack(tree)
        try:
            return self._submit(
                list(target),
                project,
                profile,
                params or {},
                packed,
                _relative_cwd(packed.root),
                model_env=model_env,
            )
        finally:
            packed.remove()

    @abstractmethod
    def _submit(
        self,
        target: list[str],
        project: str | None,
        profile: str | None,
        params: dict[str, Any],
        tree: Packed | None,
        cwd: str,
        *,
        model_env: str | None = None,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def list(self, *, state: str | None = None, mine: bool = False, limit: int = 100) -> Listing:
        """Jobs, newest first."""

    @abstractmethod
    def project_for(self, folder: Path) -> str | None:
        """The project ``folder`` belongs to, if any: on a workspace, the project whose folder
        holds it; from elsewhere, the checkout of a project that holds it (a pulled project's
        ``.atelier-project``, a workspace's ``projects/NAME``, or ``pyproject.toml``'s name)."""

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
        """The output as it comes, until the job has ended. Asked often while nothing came
        (a job's first line shows as soon as it is written), then every ``poll`` seconds."""
        offset = 0
        wait = min(FIRST_POLL, poll)
        while True:
            text, offset, final = self.read_log(job_id, offset)
            if text:
                yield text
            elif final:
                return
            else:
                time.sleep(wait)
                wait = min(wait * 1.5, poll)

    def wait(self, job_id: int, timeout: float | None = None) -> dict[str, Any]:
        """The job once it has ended (or as it is when ``timeout`` seconds have passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["final"] or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(0.25)


class EmbeddedJobs(Jobs):
    def __init__(
        self,
        workbench: Workbench,
        principal: Principal,
        client: str | None = None,
        cwd: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``cwd``: the folder a script is looked for in first (default: the current one);
        ``environ``: the environment jobs inherit, whenever they start (default: this
        process's as it is at submission, since the caller is this process)."""
        self.service = workbench.jobs
        self.projects = workbench.projects
        self.principal = principal
        self.client = client
        self.cwd = cwd
        self.environ = environ

    def _submit(
        self,
        target: list[str],
        project: str | None,
        profile: str | None,
        params: dict[str, Any],
        tree: Packed | None,
        cwd: str,
        *,
        model_env: str | None = None,
    ) -> dict[str, Any]:
        job = self.service.submit(
            target,
            principal=self.principal,
            project=project,
            profile=profile,
            params=params,
            cwd=self.cwd or Path.cwd(),
            tree=tree.archive if tree is not None else None,
            tree_cwd=cwd,
            client=self.client,
            model_env=model_env,
            environ=dict(os.environ) if self.environ is None else self.environ,
        )
        return job.as_dict()

    def list(self, *, state: str | None = None, mine: bool = False, limit: int = 100) -> Listing:
        user = self.principal.name if mine else None
        return [job.as_dict() for job in self.service.list(state=state, user=user, limit=limit)]

    def project_for(self, folder: Path) -> str | None:
        # On the workspace, jobs run on the project's own folder: its project is the default.
        found = self.projects.project_for_path(folder)
        return found.name if found is not None else None

    def get(self, job_id: int) -> dict[str, Any]:
        return self.service.get(job_id).as_dict()

    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        final = self.service.get(job_id).final
        text, offset = self.service.read_log(job_id, offset)
        return text, offset, final

    def follow(self, job_id: int, *, poll: float = 0.25) -> Iterator[str]:
        # The log file itself, looked at often while the job is lively (no record read each time).
        return self.service.follow(job_id, poll=poll)

    def cancel(self, job_id: int) -> dict[str, Any]:
        job = self.service.cancel(job_id, principal=self.principal, client=self.client)
        return job.as_dict()

    def profiles(self) -> Listing:
        return [Profile.model_validate(p).model_dump() for p in self.service.profiles()]


class RemoteJobs(Jobs):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def _submit(
        self,
        target: list[str],
        project: str | None,
        profile: str | None,
        params: dict[str, Any],
        tree: Packed | None,
        cwd: str,
        *,
        model_env: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "target": target,
            "project": project,
            "profile": profile,
            "params": params,
        }
        if model_env is not None:
            body["model_env"] = model_env
        if tree is None:
            return _job(self.client.request("POST", "/jobs", json=body).json())
        with tree.archive.open("rb") as archive:
            # One streamed body: the job first (checked before the tree is kept), then the tree.
            response = self.client.request(
                "POST",
                "/jobs/tree",
                data={JOB_FIELD: json.dumps({**body, "cwd": cwd})},
                files={TREE_FIELD: ("tree.tar.gz", archive, TREE_MEDIA_TYPE)},
                timeout=None,
            )
        return _job(response.json())

    def list(self, *, state: str | None = None, mine: bool = False, limit: int = 100) -> Listing:
        query: dict[str, Any] = {"mine": mine, "limit": limit} | ({"state": state} if state else {})
        return [_job(j) for j in self.client.request("GET", "/jobs", params=query).json()]

    def project_for(self, folder: Path) -> str | None:
        checkout = find_checkout(folder)
        return checkout.project if checkout is not None else None

    def get(self, job_id: int) -> dict[str, Any]:
        return _job(self.client.request("GET", f"/jobs/{int(job_id)}").json())

    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        chunk = LogChunk.model_validate(
            self.client.request(
                "GET", f"/jobs/{int(job_id)}/logs", params={"offset": offset}
            ).json()
        )
        return chunk.text, chunk.offset, chunk.final

    def cancel(self, job_id: int) -> dict[str, Any]:
        return _job(self.client.request("POST", f"/jobs/{int(job_id)}/cancel").json())

    def profiles(self) -> Listing:
        listed = self.client.request("GET", "/profiles").json()
        return [Profile.model_validate(p).model_dump() for p in listed]


def _job(data: Any) -> dict[str, Any]:
    return Job.model_validate(data).model_dump()


def _relative_cwd(root: Path) -> str:
    """The current folder inside ``root`` (``""``: its root, or when outside it)."""
    here = Path(os.getcwd()).resolve()
    if here.is_relative_to(root):
        relative = here.relative_to(root).as_posix()
        return "" if relative == "." else relative
    return ""


def tree_for(folder: Path, tree: str | Path | None) -> Path | None:
    """The working tree a run from ``folder`` brings by default: the explicit ``tree``, else
    the checkout of a project that holds ``folder`` (None when there is none)."""
    if tree is not None:
        found = Path(tree).resolve()
        if not found.is_dir():
            raise InvalidInput(f"working tree {tree}: no such folder")
        return found
    checkout = find_checkout(folder)
    return checkout.root if checkout is not None else None
