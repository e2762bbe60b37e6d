"""``atelier run``, ``atelier jobs list|show|logs|cancel`` and ``atelier profiles``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from atelier.cli.options import acting, open_workbench, workspace_option

if TYPE_CHECKING:
    from atelier.services.jobs import JobInfo
    from atelier.services.workbench import Workbench


@click.command(context_settings={"allow_interspersed_args": False})
@workspace_option
@click.option(
    "--project",
    "-p",
    help="Run in this project's environment and folder "
    "[default: the project of the current folder, if any].",
)
@click.option("--profile", help="Compute profile [default: compute.default_profile, small].")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter (repeatable): --NAME=VALUE for a script, an injected cell for a "
    "notebook, ATELIER_PARAMS (JSON) for every job.",
)
@click.option("--detach", "-d", is_flag=True, help="Print the job's id and return at once.")
@click.argument("target", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    workspace: str | None,
    project: str | None,
    profile: str | None,
    params: tuple[str, ...],
    detach: bool,
    target: tuple[str, ...],
) -> None:
    """Run TARGET as a job: `script.py [ARGS...]`, `notebook.ipynb`, or `-- COMMAND [ARGS...]`.

    The job gets the profile's resources and the project's environment; its output follows
    here until it ends (Ctrl-C stops following, not the job). Exits with the job's exit code.
    """
    wb = open_workbench(workspace, scopes=("jobs",), doing="run jobs")
    owner = acting(wb)
    cwd = Path.cwd()
    if project is None:
        found = wb.projects.project_for_path(cwd)
        project = found.name if found is not None else None
    job = wb.jobs.submit(
        list(target),
        principal=owner,
        project=project,
        profile=profile,
        params=list(params),
        cwd=cwd,
    )
    where = f", project {job.project}" if job.project else ""
    click.echo(f"job {job.id}: {job.name} on {job.profile} ({job.backend}{where})", err=True)
    for note in job.notes:
        click.echo(f"note: {note}", err=True)
    if detach:
        click.echo(job.id)
        return
    sys.exit(_follow(wb, job.id))


def _follow(wb: Workbench, job_id: int) -> int:
    try:
        for text in wb.jobs.follow(job_id):
            click.echo(text, nl=False)
    except KeyboardInterrupt:
        click.echo(
            f"\nstopped following; job {job_id} keeps running: `atelier jobs logs {job_id}` "
            f"follows it again, `atelier jobs cancel {job_id}` stops it",
            err=True,
        )
        return 130
    job = wb.jobs.get(job_id)
    click.echo(f"job {job_id} {_ending(job)}", err=True)
    if job.state == "succeeded":
        return 0
    return job.exit_code if job.exit_code and 0 < job.exit_code < 256 else 1


def _ending(job: JobInfo) -> str:
    state = job.state.replace("_", " ")
    took = f" after {job.duration:.1f}s" if job.duration is not None else ""
    return f"{state}{took}" + (f": {job.reason}" if job.reason else "")


@click.group()
def jobs() -> None:
    """Jobs: list, show, follow logs, cancel. Start one with `atelier run`."""


@jobs.command("list")
@workspace_option
@click.option("--state", help="Only jobs in this state (queued, running, succeeded, ...).")
@click.option("--mine", is_flag=True, help="Only my jobs.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    workspace: str | None, state: str | None, mine: bool, limit: int, as_json: bool
) -> None:
    """List jobs, newest first."""
    wb = open_workbench(workspace, scopes=("jobs",))
    user = acting(wb).name if mine else None
    found = wb.jobs.list(state=state, user=user, limit=limit)
    if as_json:
        click.echo(json.dumps([j.as_dict() for j in found], indent=2))
        return
    for job in found:
        took = f"{job.duration:.1f}s" if job.duration is not None else "-"
        click.echo(
            f"{job.id:>5}  {job.state:<10} {job.profile:<8} {job.backend:<6} {took:>9}  "
            f"{job.created_at:%Y-%m-%d %H:%M}  {job.submitted_by:<12} {job.name}"
        )


@jobs.command("show")
@workspace_option
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, job_id: int, as_json: bool) -> None:
    """Show one job: its state, command, profile, times, exit code and notes."""
    job = open_workbench(workspace, scopes=("jobs",)).jobs.get(job_id)
    data = job.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key in (
        "state",
        "reason",
        "exit_code",
        "name",
        "kind",
        "project",
        "profile",
        "backend",
        "params",
        "resources",
        "workdir",
        "submitted_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "external_id",
        "mlflow_run_id",
        "output",
    ):
        value: Any = data[key]
        if value not in (None, "", {}, []):
            click.echo(f"{key:<13} {value}")
    click.echo(f"{'command':<13} {' '.join(job.command)}")
    for note in job.notes:
        click.echo(f"{'note':<13} {note}")


@jobs.command("logs")
@workspace_option
@click.argument("job_id", type=int)
@click.option(
    "--follow/--no-follow",
    "-f/-F",
    default=True,
    show_default=True,
    help="Keep printing until the job ends.",
)
def logs(workspace: str | None, job_id: int, follow: bool) -> None:
    """Print a job's output (stdout and stderr together)."""
    wb = open_workbench(workspace, scopes=("jobs",))
    if follow:
        sys.exit(_follow(wb, job_id))
    offset = 0
    while True:
        text, offset = wb.jobs.read_log(job_id, offset)
        if not text:
            return
        click.echo(text, nl=False)


@jobs.command("cancel")
@workspace_option
@click.argument("job_id", type=int)
def cancel(workspace: str | None, job_id: int) -> None:
    """Cancel a job: it and every process it started are stopped."""
    wb = open_workbench(workspace, scopes=("jobs",))
    job = wb.jobs.cancel(job_id, principal=acting(wb))
    click.echo(f"job {job_id} {_ending(job)}" if job.final else f"job {job_id} is stopping")


@click.command()
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profiles(workspace: str | None, as_json: bool) -> None:
    """List compute profiles and whether the backend can run them now."""
    listed = open_workbench(workspace, scopes=("jobs",)).jobs.profiles()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    for p in listed:
        gpus = f", {p['gpus']} GPU" if p["gpus"] else ""
        mark = "*" if p["default"] else " "
        status = "ok" if p["available"] else f"cannot run: {p['why']}"
        resources = f"{p['cpus']:g} CPU, {p['memory']}{gpus}"
        click.echo(
            f"{mark}{p['name']:<10} {resources:<22} max {p['max_runtime']:<6} "
            f"{p['backend']:<6} {status}"
        )


def register(group: click.Group) -> None:
    group.add_command(run)
    group.add_command(jobs)
    group.add_command(profiles)
