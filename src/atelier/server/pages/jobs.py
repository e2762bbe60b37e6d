"""Portal pages: jobs (``/jobs``), one job with its live log (``/jobs/{id}``), and the executed
notebook of a notebook job.

A job's page is watched while the job runs: its live panel (``/jobs/{id}/live``, polled by
HTMX until the job ends) shows the duration so far, CPU and memory over time (the samples its
supervisor takes, :mod:`atelier.services.jobs.samples`) and the metrics the job logs to its
MLflow run, with a link to the run's page."""

from __future__ import annotations

import html
from typing import Any

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
    return render(
        request,
        "jobs/job.html",
        job=job,
        log=text,
        offset=offset,
        cut=start > 0,
        **_live(request, job),
    )


@router.get("/jobs/{job_id}/live")
def live_panel(
    job_id: int, request: Request, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    """The job's live panel (HTMX): duration, CPU and memory, logged metrics; it stops
    polling once the job has ended."""
    job = workbench(request).jobs.get(job_id)
    # The state in the page's heading changes with it (an out-of-band swap).
    return render(request, "jobs/_live.html", job=job, oob=True, **_live(request, job))


#: The most logged metrics drawn on a job's page (its run page has all of them).
JOB_METRIC_CHARTS = 6


def _live(request: Request, job: Any) -> dict[str, Any]:
    wb = workbench(request)
    samples = wb.jobs.samples(job.id)
    found: dict[str, Any] = {
        "samples": samples,
        # A line needs two points: the charts come with the second sample.
        "resource_charts": resource_charts(samples["samples"])
        if len(samples["samples"]) > 1
        else {},
        "run": None,
        "run_error": "",
        "metric_charts": {},
    }
    if job.mlflow_run_id:
        from atelier.services.tracking.experiments import run_summary
        from atelier.services.tracking.runs import Runs, metric_chart

        runs = Runs(wb.tracking_server)
        try:
            run = run_summary(runs.raw(job.mlflow_run_id))
            charts = {}
            for key in sorted(run["metrics"])[:JOB_METRIC_CHARTS]:
                points = runs.history(run["id"], key)
                if len(points) > 1:
                    charts[key] = metric_chart(key, points)
        except (AtelierError, OSError) as exc:
            found["run_error"] = f"MLflow run {job.mlflow_run_id} cannot be read now: {exc}"
        else:
            found["run"], found["metric_charts"] = run, charts
    return found


def resource_charts(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Vega-Lite: CPU (percent of one core) and memory (MB) over the job's seconds."""
    values = [
        {"t": s["t"], "cpu": s["cpu"], "memory": round(s["memory"] / 1e6, 1)} for s in samples
    ]

    def chart(field: str, title: str) -> dict[str, Any]:
        return {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "description": f"{title} over the job's run time",
            "data": {"values": values},
            "width": "container",
            "height": 140,
            "mark": {"type": "area", "line": True, "opacity": 0.3, "tooltip": True},
            "encoding": {
                "x": {"field": "t", "type": "quantitative", "title": "seconds since start"},
                "y": {"field": field, "type": "quantitative", "title": title},
            },
        }

    return {"cpu": chart("cpu", "CPU (% of one core)"), "memory": chart("memory", "memory (MB)")}


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
