"""``atelier run``, ``atelier jobs list|show|logs|cancel`` and ``atelier profiles``."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from atelier.cli.options import client_for, is_remote, workspace_option
from atelier.contract import TOKEN_ENV, URL_ENV
from atelier.errors import AtelierError
from atelier.services.jobs import spare

if TYPE_CHECKING:
    from atelier.sdk.client import Client

#: How long `atelier run --model-env` waits for the model's environment to be built, and how
#: often it asks.
MODEL_ENV_WAIT = 3600.0
MODEL_ENV_POLL = 5.0


@click.command(context_settings={"allow_interspersed_args": False})
@workspace_option
@click.option(
    "--project",
    "-p",
    help="Run in this project's environment "
    "[default: the project of the current folder or checkout, if any].",
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
@click.option(
    "--tree",
    type=click.Path(file_okay=False, exists=True),
    help="Send this folder's files (those git keeps) with the job, which runs in its own copy "
    "of them [default with ATELIER_URL: the project checkout holding the current folder].",
)
@click.option(
    "--no-tree",
    is_flag=True,
    help="Send no files: run the server's copy (the project's folder on the server).",
)
@click.option(
    "--model-env",
    metavar="NAME@ALIAS",
    help="Run in the environment of this registered model version (built from its captured "
    "lock), e.g. for batch scoring; the job finds the model's files at ATELIER_MODEL_PATH.",
)
@click.option("--detach", "-d", is_flag=True, help="Print the job's id and return at once.")
@click.argument("target", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    workspace: str | None,
    project: str | None,
    profile: str | None,
    params: tuple[str, ...],
    tree: str | None,
    no_tree: bool,
    model_env: str | None,
    detach: bool,
    target: tuple[str, ...],
) -> None:
    """Run TARGET as a job: `script.py [ARGS...]`, `notebook.ipynb`, or `-- COMMAND [ARGS...]`.

    The job gets the profile's resources and the project's environment; its output follows
    here until it ends (Ctrl-C stops following, not the job). Exits with the job's exit code.

    On a workspace it runs in the project's folder; when `atelier up` runs on that workspace
    on this machine, the job is handed to it (it starts sooner), with your environment. With
    ATELIER_URL (from a laptop) the checkout you are in travels with it, respecting
    .gitignore, and it runs in its own copy of it on the server; --tree DIR does the same
    anywhere, --no-tree runs the server's files.
    """
    if tree is not None and no_tree:
        raise click.UsageError("--tree and --no-tree exclude each other")
    if tree is None and model_env is None:
        code = _through_server(workspace, list(target), project, profile, params, detach)
        if code is not None:
            sys.exit(code)
    if workspace or not os.environ.get(URL_ENV):
        # Likely a job on this machine: its supervisor starts loading now, while the
        # workspace opens; the jobs service hands it the job once it is recorded. An unused
        # one (a remote job, a refusal) ends when the command does.
        spare.start_early()
        click.get_current_context().call_on_close(spare.discard_early)
    with client_for(workspace, scopes=("jobs",), doing="run jobs") as client:
        cwd = Path.cwd()
        if project is None and model_env is None:
            project = client.jobs.project_for(cwd)
        shipped = None
        if tree is not None:
            shipped = Path(tree)
        elif is_remote(client) and not no_tree:
            shipped = _default_tree(cwd, target)
        job = _submit(
            client,
            list(target),
            project=project,
            profile=profile,
            params=_params(params),
            tree=shipped,
            model_env=model_env,
        )
        spare.discard_early()
        _announce(job, shipped)
        if detach:
            click.echo(job["id"])
            sys.exit(0)
        sys.exit(_follow(client, int(job["id"])))


def _through_server(
    workspace: str | None,
    target: list[str],
    project: str | None,
    profile: str | None,
    params: tuple[str, ...],
    detach: bool,
) -> int | None:
    """Hand the job to the running ``atelier up`` of the workspace, print what comes back,
    and give the exit code; None when no server of the workspace runs here for this user, or
    it declines (the command's settings differ from its own): the command then opens the
    workspace itself (see :mod:`atelier.contract.local_runs`)."""
    import socket

    from atelier.config.locate import find_workspace
    from atelier.contract.local_runs import address, peer_uid, send, socket_path
    from atelier.errors import WorkspaceNotFound
    from atelier.sdk.connect import works_on_workspace

    if not works_on_workspace(workspace):
        return None
    try:
        path = socket_path(find_workspace(workspace))
    except WorkspaceNotFound:
        return None
    if not path.is_socket():
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with connection:
        try:
            with address(path) as where:
                connection.connect(where)
        except OSError:
            return None  # left by a server that stopped
        if peer_uid(connection) != os.getuid():
            return None  # not this user's server: it gets no token
        send(
            connection,
            {
                "token": os.environ.get(TOKEN_ENV),
                "cwd": str(Path.cwd()),
                "environ": dict(os.environ),
                "target": target,
                "project": project,
                "profile": profile,
                "params": _params(params),
                "detach": detach,
            },
        )
        job_id = None
        try:
            for line in connection.makefile("rb"):
                message = json.loads(line)
                if "decline" in message:
                    return None
                if "notice" in message:
                    click.echo(message["notice"], err=True)
                elif "error" in message:
                    raise AtelierError(message["error"])
                elif "job" in message:
                    job_id = int(message["job"]["id"])
                    _announce(message["job"])
                    if detach:
                        click.echo(job_id)
                        return 0
                elif "out" in message:
                    click.echo(message["out"], nl=False)
                elif "end" in message:
                    return _ended(message["end"], None)
        except KeyboardInterrupt:
            if job_id is None:
                raise
            click.echo(_stopped_following(job_id), err=True)
            return 130
    where = f": `atelier jobs logs {job_id}` follows it" if job_id is not None else ""
    raise AtelierError(f"the Atelier server stopped while handling the job{where}")


def _announce(job: dict[str, Any], shipped: Path | None = None) -> None:
    where = f", project {job['project']}" if job["project"] else ""
    click.echo(
        f"job {job['id']}: {job['name']} on {job['profile']} ({job['backend']}{where})",
        err=True,
    )
    if shipped is not None:
        click.echo(f"note: runs in a copy of {shipped.resolve()} sent with it", err=True)
    for note in job["notes"]:
        click.echo(f"note: {note}", err=True)


def _submit(client: Client, target: list[str], **options: Any) -> dict[str, Any]:
    """Submit; while the model environment asked for is being built (503), say so and ask
    again."""
    deadline = time.monotonic() + MODEL_ENV_WAIT
    said = ""
    while True:
        try:
            return client.jobs.submit(target, **options)
        except AtelierError as error:
            if error.status_code != 503 or time.monotonic() > deadline:
                raise
            if str(error) != said:
                click.echo(f"waiting: {error}", err=True)
                said = str(error)
            time.sleep(MODEL_ENV_POLL)


def _default_tree(cwd: Path, target: tuple[str, ...]) -> Path | None:
    """What a remote run brings: the project checkout holding ``cwd``, else ``cwd`` itself
    when the target is a script or notebook found there, else nothing."""
    from atelier.sdk.jobs import tree_for

    found = tree_for(cwd, None)
    if found is not None:
        return found
    first = target[0] if target else ""
    if first.endswith((".py", ".ipynb")) and (cwd / first).is_file():
        return cwd
    return None


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs: values that read as JSON keep that type, others are strings."""
    from atelier.errors import InvalidInput

    parsed: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise InvalidInput(f"parameter {pair!r}: write NAME=VALUE, e.g. lr=0.01")
        try:
            parsed[name.strip()] = json.loads(text)
        except ValueError:
            parsed[name.strip()] = text
    return parsed


def _follow(client: Client, job_id: int) -> int:
    try:
        for text in client.jobs.follow(job_id):
            click.echo(text, nl=False)
    except KeyboardInterrupt:
        click.echo(_stopped_following(job_id), err=True)
        return 130
    return _ended(client.jobs.get(job_id), getattr(client, "url", None))


def _stopped_following(job_id: int) -> str:
    return (
        f"\nstopped following; job {job_id} keeps running: `atelier jobs logs {job_id}` "
        f"follows it again, `atelier jobs cancel {job_id}` stops it"
    )


def _ended(job: dict[str, Any], url: str | None) -> int:
    """Say how the job ended; the command's exit code."""
    click.echo(f"job {job['id']} {_ending(job)}", err=True)
    if job["mlflow_run_id"]:
        click.echo(f"MLflow run {job['mlflow_run_id']}", err=True)
    if url:
        click.echo(f"see {url}/jobs/{job['id']}", err=True)
    if job["state"] == "succeeded":
        return 0
    code = job["exit_code"]
    return code if code and 0 < code < 256 else 1


def _ending(job: dict[str, Any]) -> str:
    state = str(job["state"]).replace("_", " ")
    took = f" after {job['duration']:.1f}s" if job["duration"] is not None else ""
    return f"{state}{took}" + (f": {job['reason']}" if job["reason"] else "")


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
    with client_for(workspace, scopes=("jobs",), doing="list jobs") as client:
        found = client.jobs.list(state=state, mine=mine, limit=limit)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for job in found:
        took = f"{job['duration']:.1f}s" if job["duration"] is not None else "-"
        created = str(job["created_at"])[:16].replace("T", " ")
        click.echo(
            f"{job['id']:>5}  {job['state']:<10} {job['profile']:<8} {job['backend']:<6} "
            f"{took:>9}  {created}  {job['submitted_by']:<12} {job['name']}"
        )


@jobs.command("show")
@workspace_option
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, job_id: int, as_json: bool) -> None:
    """Show one job: its state, command, profile, times, exit code and notes."""
    with client_for(workspace, scopes=("jobs",), doing="read jobs") as client:
        data = client.jobs.get(job_id)
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
        "tree",
        "submitted_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "external_id",
        "mlflow_run_id",
        "output",
    ):
        value: Any = data.get(key)
        if value not in (None, "", {}, [], False):
            click.echo(f"{key:<13} {value}")
    click.echo(f"{'command':<13} {' '.join(data['command'])}")
    for note in data["notes"]:
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
    with client_for(workspace, scopes=("jobs",), doing="read jobs") as client:
        if follow:
            code = _follow(client, job_id)
        else:
            offset, code = 0, 0
            while True:
                text, offset, _ = client.jobs.read_log(job_id, offset)
                if not text:
                    break
                click.echo(text, nl=False)
    sys.exit(code)


@jobs.command("cancel")
@workspace_option
@click.argument("job_id", type=int)
def cancel(workspace: str | None, job_id: int) -> None:
    """Cancel a job: it and every process it started are stopped."""
    with client_for(workspace, scopes=("jobs",), doing="cancel jobs") as client:
        job = client.jobs.cancel(job_id)
    click.echo(f"job {job_id} {_ending(job)}" if job["final"] else f"job {job_id} is stopping")


@click.command()
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profiles(workspace: str | None, as_json: bool) -> None:
    """List compute profiles and whether the backend can run them now."""
    with client_for(workspace, scopes=("jobs",), doing="list profiles") as client:
        listed = client.jobs.profiles()
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
