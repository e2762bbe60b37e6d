"""Jobs and compute profiles: submit (with or without a working tree), list, read logs, cancel.

``POST /jobs/tree`` receives a job with its working tree as one streamed ``multipart/form-data``
body: the ``job`` field (JSON) first, then the ``tree`` file (a gzipped tar). The request is
checked (role, scope, project membership, profile) as soon as the ``job`` field has arrived,
before a byte of the tree is stored; the tree is written to the workspace as it arrives,
counted against ``compute.max_tree_size``, and the jobs service unpacks it safely.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from atelier.config.units import parse_size
from atelier.contract.jobs import (
    JOB_FIELD,
    TREE_FIELD,
    Job,
    JobSamples,
    LogChunk,
    NewJob,
    Profile,
)
from atelier.errors import InvalidInput, NotFound
from atelier.server.api.deps import workbench
from atelier.server.api.multipart import Part, receive_form
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import JOBS
from atelier.services.jobs.paths import incoming
from atelier.services.jobs.tree import TreeTooLarge, too_large

router = APIRouter(tags=["jobs"])

#: Entry point recorded in the audit log for jobs submitted over HTTP.
CLIENT = "api"


@router.get("/profiles", response_model=list[Profile])
def list_profiles(
    request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> list[dict[str, Any]]:
    return workbench(request).jobs.profiles()


@router.get("/jobs", response_model=list[Job])
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


@router.post("/jobs", status_code=201, response_model=Job)
def submit_job(
    body: NewJob,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> dict[str, Any]:
    """Queue a job on the server's files: the project's folder (or the workspace)."""
    job = workbench(request).jobs.submit(
        body.target,
        principal=principal,
        project=body.project,
        profile=body.profile,
        params=body.params,
        client=CLIENT,
        model_env=body.model_env,
    )
    return job.as_dict()


@router.post("/jobs/tree", status_code=201, response_model=Job)
async def submit_job_with_tree(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> dict[str, Any]:
    """Queue a job that runs in the working tree sent along (multipart: ``job``, ``tree``)."""
    jobs = workbench(request).jobs
    limit = parse_size(workbench(request).settings.compute.max_tree_size)
    folder = incoming(workbench(request).workspace.root)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{uuid.uuid4().hex}.tar.gz"

    def check(job: NewJob) -> None:
        jobs.check_submit(principal, project=job.project, profile=job.profile, client=CLIENT)

    try:
        body = await _receive(request, archive, limit, check)
        job = await run_in_threadpool(
            jobs.submit,
            body.target,
            principal=principal,
            project=body.project,
            profile=body.profile,
            params=body.params,
            tree=archive,
            tree_cwd=body.cwd,
            client=CLIENT,
            model_env=body.model_env,
        )
    finally:
        archive.unlink(missing_ok=True)
    return job.as_dict()


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> dict[str, Any]:
    return workbench(request).jobs.get(job_id).as_dict()


@router.get("/jobs/{job_id}/logs", response_model=LogChunk)
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


@router.get("/jobs/{job_id}/samples", response_model=JobSamples)
def job_samples(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> dict[str, Any]:
    """The job's CPU and memory over time, sampled every few seconds while it runs."""
    return workbench(request).jobs.samples(job_id)


@router.post("/jobs/{job_id}/cancel", response_model=Job)
def cancel_job(
    job_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(JOBS,)),
) -> dict[str, Any]:
    jobs = workbench(request).jobs
    return jobs.cancel(job_id, principal=principal, wait=10, client=CLIENT).as_dict()


@router.get("/jobs/{job_id}/notebook")
def executed_notebook(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist", scopes=(JOBS,))
) -> FileResponse:
    job = workbench(request).jobs.get(job_id)
    if job.output is None:
        raise NotFound(f"job {job_id} has no executed notebook")
    return FileResponse(job.output, media_type="application/x-ipynb+json", filename=job.name)


# -- receiving a tree ------------------------------------------------------------------------

USAGE = (
    f"send multipart/form-data: a {JOB_FIELD!r} field (the job as JSON), then a "
    f"{TREE_FIELD!r} file (the working tree as a .tar.gz)"
)


async def _receive(
    request: Request, archive: Path, limit: int, check: Callable[[NewJob], None]
) -> NewJob:
    """The job, checked before a byte of its tree is written to ``archive``."""
    checked: NewJob | None = None

    def only_the_job(name: str, fields: dict[str, str]) -> None:
        if name != JOB_FIELD or JOB_FIELD in fields:
            raise InvalidInput(
                f"unexpected form field {name!r}: send {JOB_FIELD!r} then {TREE_FIELD!r}"
            )

    def destination(_: Part, fields: dict[str, str]) -> Path:
        nonlocal checked
        if JOB_FIELD not in fields:
            raise InvalidInput(f"the {JOB_FIELD!r} field must come before the {TREE_FIELD!r} file")
        job = _job(fields[JOB_FIELD])
        check(job)  # who may run what, where
        checked = job
        return archive

    form = await receive_form(
        request,
        destination,
        usage=USAGE,
        file_field=TREE_FIELD,
        check_field=only_the_job,
        max_field=1 << 20,
        max_file=limit,
        file_too_large=lambda limit: TreeTooLarge(too_large(limit)),
        one_file="send one working tree per job",
    )
    if checked is not None:
        return checked
    if JOB_FIELD not in form.fields:
        raise InvalidInput(f"the request has no {JOB_FIELD!r} field (the job as JSON)")
    await run_in_threadpool(check, _job(form.fields[JOB_FIELD]))
    raise InvalidInput(f"the request has no {TREE_FIELD!r} file (the working tree)")


def _job(text: str) -> NewJob:
    try:
        return NewJob.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
        raise InvalidInput(f"the {JOB_FIELD!r} field is not a valid job: {first}") from None


__all__ = ["router"]
