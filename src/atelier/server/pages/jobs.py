"""Portal pages: jobs (``/jobs``), one job with its live log (``/jobs/{id}``), and the executed
notebook of a notebook job."""

from __future__ import annotations

import html

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter()

#: The page shows at most this much of a log at once; the rest is in `atelier jobs logs`.
LOG_PAGE_BYTES = 1 << 20
#: An executed notebook is shown in an origin of its own, with no scripts and no requests.
NOTEBOOK_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _list_page(
    request: Request, *, error: str = "", form: dict[str, str] | None = None
) -> HTMLResponse:
    wb = workbench(request)
    jobs = wb.jobs.list(limit=200)
    partial = bool(request.headers.get("HX-Request")) and request.method == "GET"
    try:
        projects = [p.name for p in wb.projects.list()]
    except AtelierError:
        projects = []
    return render(
        request,
        "jobs/_table.html" if partial else "jobs/list.html",
        jobs=jobs,
        active=any(not job.final for job in jobs),
        profiles=wb.jobs.profiles() if not partial else [],
        default_profile=wb.settings.compute.default_profile,
        projects=projects,
        error=error,
        form=form or {},
        status_code=422 if error else 200,
    )


@router.get("/jobs")
def jobs_page(request: Request, _: Principal = allow("admin", "scientist")) -> HTMLResponse:
    return _list_page(request)


@router.post("/jobs", response_model=None)
def submit_from_form(
    request: Request,
    target: str = Form(...),
    project: str = Form(""),
    profile: str = Form(""),
    params: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> Response:
    import shlex

    form = {"target": target, "project": project, "profile": profile, "params": params}
    try:
        job = workbench(request).jobs.submit(
            shlex.split(target),
            principal=principal,
            project=project or None,
            profile=profile or None,
            params=[line.strip() for line in params.splitlines() if line.strip()],
            client=client(request),
        )
    except (AtelierError, ValueError) as exc:
        return _list_page(request, error=str(exc), form=form)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}")
def job_page(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    jobs = workbench(request).jobs
    try:
        job = jobs.get(job_id)
    except AtelierError as exc:
        return render(request, "jobs/missing.html", error=str(exc), status_code=exc.status_code)
    size = jobs.log_path(job_id).stat().st_size if jobs.log_path(job_id).exists() else 0
    start = max(0, size - LOG_PAGE_BYTES)
    text, offset = jobs.read_log(job_id, start, LOG_PAGE_BYTES)
    return render(request, "jobs/job.html", job=job, log=text, offset=offset, cut=start > 0)


@router.get("/jobs/{job_id}/log")
def log_chunk(
    job_id: int, request: Request, offset: int = 0, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    """New log text since ``offset`` and the next poller (HTMX); once the job has ended, a
    full refresh shows its outcome."""
    jobs = workbench(request).jobs
    job = jobs.get(job_id)
    text, next_offset = jobs.read_log(job_id, offset)
    if job.final and not text:
        return HTMLResponse("", headers={"HX-Refresh": "true"})
    poller = (
        f'<span id="log-poller" hx-get="/jobs/{job_id}/log?offset={next_offset}" '
        'hx-trigger="load delay:500ms" hx-swap="outerHTML"></span>'
    )
    return HTMLResponse(html.escape(text) + poller)


@router.post("/jobs/{job_id}/cancel")
def cancel_from_page(
    job_id: int, request: Request, principal: Principal = allow("admin", "scientist")
) -> RedirectResponse:
    workbench(request).jobs.cancel(job_id, principal=principal, wait=15, client=client(request))
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/jobs/{job_id}/notebook")
def notebook_page(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    """The executed notebook as HTML: sanitized, and sandboxed so that nothing in its
    outputs runs with the portal's origin."""
    job = workbench(request).jobs.get(job_id)
    if job.output is None:
        return render(
            request,
            "jobs/missing.html",
            error=f"job {job_id} has no executed notebook",
            status_code=404,
        )
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(job.output, as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(template_name="classic", sanitize_html=True)  # type: ignore[no-untyped-call]
    body, _resources = exporter.from_notebook_node(notebook)
    return HTMLResponse(
        body,
        headers={"Content-Security-Policy": NOTEBOOK_POLICY},
    )
