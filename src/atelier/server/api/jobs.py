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
from typing import Any, BinaryIO, cast

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from atelier.config.units import parse_size
from atelier.contract.jobs import JOB_FIELD, TREE_FIELD, Job, LogChunk, NewJob, Profile
from atelier.errors import InvalidInput, NotFound
from atelier.server.api.deps import workbench
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


async def _receive(
    request: Request, archive: Path, limit: int, check: Callable[[NewJob], None]
) -> NewJob:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidInput(
            f"send multipart/form-data: a {JOB_FIELD!r} field (the job as JSON), then a "
            f"{TREE_FIELD!r} file (the working tree as a .tar.gz)"
        )
    form = _TreeForm(archive, limit)
    parser = MultipartParser(params[b"boundary"], cast(Any, form.callbacks()))
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.job is not None and not form.checked:
                # Before a byte of the tree is kept: who may run what, where.
                await run_in_threadpool(check, form.job)
                form.checked = True
            await run_in_threadpool(form.flush)
        parser.finalize()
    except MultipartParseError as error:
        raise InvalidInput(f"the body is not valid multipart/form-data: {error}") from None
    finally:
        form.close()
    if form.job is None:
        raise InvalidInput(f"the request has no {JOB_FIELD!r} field (the job as JSON)")
    if not form.checked:
        await run_in_threadpool(check, form.job)
    if not form.received:
        raise InvalidInput(f"the request has no {TREE_FIELD!r} file (the working tree)")
    return form.job


class _TreeForm:
    """python-multipart callbacks: the ``job`` field parsed as it ends, the ``tree`` file
    written to ``archive`` (writes queued; :meth:`flush` runs them in the thread pool, and
    only once the job has been checked)."""

    def __init__(self, archive: Path, limit: int) -> None:
        self.archive = archive
        self.limit = limit
        self.job: NewJob | None = None
        self.checked = False
        self.received = False
        self._file: BinaryIO | None = None
        self._pending: list[bytes] = []
        self._size = 0
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._name, self._data, self._disposition, self._is_file = "", bytearray(), b"", False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == TREE_FIELD:
            if self.job is None:
                raise InvalidInput(
                    f"the {JOB_FIELD!r} field must come before the {TREE_FIELD!r} file"
                )
            if self.received:
                raise InvalidInput("send one working tree per job")
            self._is_file = True
            self.received = True
        elif self._name != JOB_FIELD or self.job is not None:
            raise InvalidInput(
                f"unexpected form field {self._name!r}: send {JOB_FIELD!r} then {TREE_FIELD!r}"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self._size += end - start
            if self._size > self.limit:
                raise TreeTooLarge(too_large(self.limit))
            self._pending.append(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > 1 << 20:
            raise InvalidInput(f"form field {JOB_FIELD!r} is larger than 1 MiB")

    def _part_end(self) -> None:
        if self._is_file:
            return
        try:
            self.job = NewJob.model_validate(json.loads(self._data.decode("utf-8")))
        except (ValueError, ValidationError) as error:
            first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
            raise InvalidInput(f"the {JOB_FIELD!r} field is not a valid job: {first}") from None

    def flush(self) -> None:
        if not self._pending:
            return
        if not self.checked:
            return  # kept in memory (at most one read's worth) until the job is checked
        if self._file is None:
            self._file = self.archive.open("xb")
        self._file.writelines(self._pending)
        self._pending.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


__all__ = ["router"]
