"""Jobs and compute profiles: submit, list, read logs, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from atelier.errors import NotFound
from atelier.server.api.deps import workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import JOBS

router = APIRouter(tags=["jobs"])


class NewJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: ``["train.py", "--epochs", "3"]``, ``["report.ipynb"]`` or a command and its arguments;
    #: files are found in the project's folder (or the workspace without a project).
    target: list[str] = Field(min_length=1)
    project: str | None = None
    profile: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


@router.get("/profiles")
def list_profiles(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> list[dict[str, Any]]:
    return workbench(request).jobs.profiles()


@router.get("/jobs")
def list_jobs(
    request: Request,
    state: str | None = None,
    mine: bool = False,
    limit: int = 100,
    principal: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> list[dict[str, Any]]:
    jobs = workbench(request).jobs.list(
        state=state, user=principal.name if mine else None, limit=max(1, min(limit, 10_000))
    )
    return [job.as_dict() for job in jobs]


@router.post("/jobs", status_code=201)
def submit_job(
    body: NewJob,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> dict[str, Any]:
    job = workbench(request).jobs.submit(
        body.target,
        principal=principal,
        project=body.project,
        profile=body.profile,
        params=body.params,
    )
    return job.as_dict()


@router.get("/jobs/{job_id}")
def get_job(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> dict[str, Any]:
    return workbench(request).jobs.get(job_id).as_dict()


@router.get("/jobs/{job_id}/logs")
def job_logs(
    job_id: int,
    request: Request,
    offset: int = 0,
    _: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> dict[str, Any]:
    """The log from byte ``offset``; poll with the returned ``offset`` until ``final``."""
    jobs = workbench(request).jobs
    job = jobs.get(job_id)  # read the state first: a final job's log is complete
    text, next_offset = jobs.read_log(job_id, offset)
    return {"text": text, "offset": next_offset, "state": job.state, "final": job.final}


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    job_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> dict[str, Any]:
    return workbench(request).jobs.cancel(job_id, principal=principal, wait=10).as_dict()


@router.get("/jobs/{job_id}/notebook")
def executed_notebook(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> FileResponse:
    job = workbench(request).jobs.get(job_id)
    if job.output is None:
        raise NotFound(f"job {job_id} has no executed notebook")
    return FileResponse(job.output, media_type="application/x-ipynb+json", filename=job.name)
