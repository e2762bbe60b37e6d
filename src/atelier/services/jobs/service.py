"""The jobs service: submit, list, follow, cancel; profiles and what the backends offer."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.backends.compute import Resources, open_backend
from atelier.backends.compute.base import FINAL_STATES, ImpossibleRequest
from atelier.backends.metadata import Database, JobRecord
from atelier.config import Workspace
from atelier.config.settings import ProfileSettings
from atelier.config.units import parse_size
from atelier.errors import AtelierError, HeldElsewhere, InvalidInput, PermissionDenied
from atelier.services.auth import AuditLog, Principal, Tokens
from atelier.services.auth import scopes as token_scopes
from atelier.services.jobs.command import (
    argv_for,
    check_command,
    parse_params,
    resolve_target,
)
from atelier.services.jobs.links import server_up, try_link
from atelier.services.jobs.model import STATES, JobInfo, job_info
from atelier.services.jobs.paths import JobPaths, incoming
from atelier.services.jobs.queue import Queue, write_private
from atelier.services.jobs.records import JobRecords
from atelier.services.jobs.spare import client_free
from atelier.services.jobs.tree import unpack

if TYPE_CHECKING:
    from atelier.services.projects import Projects
    from atelier.services.serving import ModelServer

#: A job's listing or page looks for lost supervisors at most this often.
TICK_SECONDS = 2.0
#: How often a follower looks at a job's log file while the job is lively (a look is an open
#: and a read of a local file: a new line shows within this), and for how long after a line.
LOOK_SECONDS = 0.01
BRISK_SECONDS = 3.0
#: Without a max_runtime, a job's token lives this long (it is revoked when the job ends).
TOKEN_DAYS_WITHOUT_LIMIT = 30
#: Trees received but never turned into a job (a crash) are dropped after this long.
INCOMING_SECONDS = 86400
#: The roles that run jobs (viewers use apps only).
SUBMITTERS = ("admin", "scientist")


class Jobs:
    def __init__(
        self,
        db: Database,
        workspace: Workspace,
        tokens: Tokens,
        audit: AuditLog,
        projects: Callable[[], Projects],
        *,
        models: Callable[[], ModelServer] | None = None,
    ) -> None:
        self.db = db
        self.workspace = workspace
        self.settings = workspace.settings
        self.tokens = tokens
        self.audit = audit
        self._projects = projects
        #: Registered models, for jobs that run in a model's own environment.
        self._models = models
        self.records = JobRecords(db)
        self.queue = Queue(db, workspace.root, workspace.settings)
        self._last_tick = 0.0

    # -- profiles ---------------------------------------------------------------------------

    def profile(self, name: str | None) -> tuple[str, ProfileSettings]:
        chosen = name or self.settings.compute.default_profile
        found = self.settings.profiles.get(chosen)
        if found is None:
            raise InvalidInput(
                f"unknown profile {chosen!r} (have {', '.join(sorted(self.settings.profiles))}; "
                "see `atelier profiles`, define more as [profiles.NAME] in atelier.toml)"
            )
        return chosen, found

    def backend_of(self, profile: ProfileSettings) -> str:
        return profile.backend or self.settings.compute.backend

    def profiles(self) -> list[dict[str, Any]]:
        """Every profile, with whether its backend can run it and why not."""
        capacities: dict[str, Any] = {}
        listed = []
        for name, profile in sorted(self.settings.profiles.items()):
            backend_name = self.backend_of(profile)
            entry: dict[str, Any] = {
                "name": name,
                **profile.model_dump(),
                "backend": backend_name,
                "default": name == self.settings.compute.default_profile,
            }
            try:
                if backend_name not in capacities:
                    backend = open_backend(backend_name, self.settings.compute)
                    capacities[backend_name] = backend.capacity()
                capacity = capacities[backend_name]
                wanted = resources(profile)
                entry["available"] = capacity.largest.covers(wanted)
                entry["offer"] = capacity.largest.describe(gpus_always=wanted.gpus > 0)
                entry["why"] = (
                    "" if entry["available"] else f"{capacity.where} has at most {entry['offer']}"
                )
            except AtelierError as exc:
                entry.update(available=False, offer="", why=str(exc))
            listed.append(entry)
        return listed

    # -- submitting -------------------------------------------------------------------------

    def check_submit(
        self,
        principal: Principal,
        *,
        project: str | None = None,
        profile: str | None = None,
        client: str | None = None,
    ) -> None:
        """Refuse, before anything is received, a job ``principal`` may not submit: the role,
        a code token without the jobs scope, a project they are not a member of, a profile
        that does not exist or that the backend cannot run, a project without environment."""
        self._authorize(principal, project, client)
        profile_name, chosen = self.profile(profile)
        open_backend(self.backend_of(chosen), self.settings.compute).check(
            resources(chosen), profile_name
        )
        if project:
            self._project_python(project, principal, client)

    def _authorize(self, principal: Principal, project: str | None, client: str | None) -> None:
        refusal = None
        if principal.role not in SUBMITTERS:
            refusal = (
                f"{principal.name} ({principal.role}) may not run jobs: it needs "
                f"{' or '.join(SUBMITTERS)}"
            )
        elif not principal.may(frozenset({token_scopes.JOBS})):
            refusal = (
                f"the token {principal.label!r} is made for code and may not run jobs: it "
                f"acts for {principal.name} with the scopes "
                f"{', '.join(sorted(principal.scopes or ()))}"
            )
        if refusal is not None:
            self.audit.record(
                "job.submit",
                actor=principal.name,
                target=project,
                success=False,
                client=client,
                detail={"refused": "not allowed"},
            )
            raise PermissionDenied(refusal)

    def _project_python(
        self, project: str, principal: Principal, client: str | None
    ) -> tuple[str, Path]:
        found = self._projects().require_member(
            project, principal, action="job.submit", client=client
        )
        python = str(found.python)
        if not Path(python).exists():
            raise InvalidInput(
                f"project {project!r} has no environment yet ({python} is missing): "
                f"create it with `atelier env sync --project {project}`"
            )
        return python, found.path

    def _model_python(self, reference: str, target: Sequence[str]) -> tuple[str, dict[str, str]]:
        """The interpreter of the environment of the model version ``reference`` names (built
        from its lock; Atelier's own when the model runs in Atelier's process) and the
        variables that tell the job which model it is."""
        from atelier.services.tracking.references import parse_reference

        if self._models is None:
            raise InvalidInput("this workspace serves no models: a model environment is unknown")
        if target and str(target[0]).endswith(".ipynb"):
            raise InvalidInput(
                "a notebook runs in a project's kernel: run a script or a command in a model's "
                "environment"
            )
        info, python = self._models().environment(parse_reference(reference))
        return str(python or sys.executable), {
            "ATELIER_MODEL": f"{info.name}/{info.version}",
            "ATELIER_MODEL_PATH": str(info.path),
        }

    def submit(
        self,
        target: list[str],
        *,
        principal: Principal,
        project: str | None = None,
        profile: str | None = None,
        params: list[str] | dict[str, Any] | None = None,
        cwd: Path | None = None,
        tree: Path | None = None,
        tree_cwd: str = "",
        client: str | None = None,
        model_env: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> JobInfo:
        """Queue ``target`` (a script, a notebook, or a command and its arguments).

        Without ``tree`` the job runs in the project's folder (or ``cwd``, or the workspace).
        ``tree``: a gzipped tar of a working tree (see :mod:`.tree`), unpacked into the job's
        own folder where the job runs, in the project's environment; ``tree_cwd`` is the
        folder inside it where a script or notebook is looked for first. ``model_env``:
        ``NAME@ALIAS`` (or ``NAME/VERSION``, ``NAME``), run in the environment built from
        that model version's lock (batch scoring) instead of a project's. ``environ``: the
        environment the job inherits (the caller's, kept with the job however long it waits;
        its client settings left out, as the job gets its own), where a command is looked up;
        by default that of the process that starts the job's supervisor."""
        self._authorize(principal, project, client)
        profile_name, chosen = self.profile(profile)
        backend_name = self.backend_of(chosen)
        wanted = resources(chosen)
        open_backend(backend_name, self.settings.compute).check(wanted, profile_name)
        python, project_dir = sys.executable, None
        model: dict[str, str] | None = None
        if model_env and project:
            raise InvalidInput(
                "a job runs in a project's environment or in a model's, not both: "
                "leave out the project or the model environment"
            )
        if model_env:
            python, model = self._model_python(model_env, target)
        if project:
            python, project_dir = self._project_python(project, principal, client)
        staged = None
        if tree is not None:
            start = _tree_cwd(tree_cwd)
            _prune(incoming(self.workspace.root))
            staged = incoming(self.workspace.root) / uuid.uuid4().hex
            unpack(tree, staged, limit=parse_size(self.settings.compute.max_tree_size))
        try:
            return self._queue(
                target,
                principal=principal,
                project=project,
                profile_name=profile_name,
                chosen=chosen,
                backend_name=backend_name,
                python=python,
                project_dir=project_dir,
                params=params,
                cwd=cwd if staged is None else _inside(staged, start),
                staged=staged,
                client=client,
                model=model,
                environ=environ,
            )
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)

    def _queue(
        self,
        target: list[str],
        *,
        principal: Principal,
        project: str | None,
        profile_name: str,
        chosen: ProfileSettings,
        backend_name: str,
        python: str,
        project_dir: Path | None,
        params: list[str] | dict[str, Any] | None,
        cwd: Path | None,
        staged: Path | None,
        client: str | None,
        model: dict[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> JobInfo:
        wanted = resources(chosen)
        home = staged or project_dir
        workdir = home or (cwd or self.workspace.root)
        job_target = resolve_target(list(target), cwd=cwd or workdir, project_dir=home)
        parameters = parse_params(params or [])
        path_variable = (os.environ if environ is None else environ).get("PATH", "")
        if project_dir is not None or model is not None:
            path_variable = f"{Path(python).parent}{os.pathsep}{path_variable}"
        check_command(job_target, path_variable)
        # Nothing refuses the job any more: its supervisor starts now, loading while the job
        # is recorded, and launches it as soon as the queue hands it the job.
        spare = self.queue.spare()
        try:
            with self.db.session() as session:
                record = JobRecord(
                    name=job_target.name,
                    kind=job_target.kind,
                    project=project,
                    profile=profile_name,
                    backend=backend_name,
                    command=[],
                    params=parameters,
                    resources={**wanted.as_dict(), "max_runtime": chosen.max_runtime_seconds},
                    state="queued",
                    reason="",
                    notes=[],
                    workdir=str(workdir),
                    submitted_by=principal.name,
                    devices={},
                    cancel_requested=False,
                )
                session.add(record)
                session.flush()
                job_id = record.id
            paths = JobPaths(self.workspace.root, job_id)
            if staged is not None:
                # The job's own folder: the tree moves there whole (same file system).
                paths.tree.parent.mkdir(parents=True, exist_ok=True)
                staged.rename(paths.tree)
                if job_target.path is not None:
                    moved = paths.tree / job_target.path.relative_to(staged.resolve())
                    job_target = replace(job_target, path=moved)
                workdir = paths.tree
            output = (
                paths.notebook_output(job_target.name) if job_target.kind == "notebook" else None
            )
            argv = argv_for(job_target, parameters, python=python, output=output)
            env = {
                "PYTHONUNBUFFERED": "1",
                "ATELIER_JOB_ID": str(job_id),
                "ATELIER_PROFILE": profile_name,
                "ATELIER_PARAMS": json.dumps(parameters),
            }
            if project:
                env["ATELIER_PROJECT"] = project
                # Runs the job starts itself land in the project's experiment unless its code
                # chooses another (mlflow.set_experiment wins over the variable).
                env["MLFLOW_EXPERIMENT_NAME"] = project
                env["VIRTUAL_ENV"] = str(Path(python).parent.parent)
                env["PATH"] = path_variable
            if model is not None:
                env.update(model)
                env["VIRTUAL_ENV"] = str(Path(python).parent.parent)
                env["PATH"] = path_variable
            if staged is not None and (paths.tree / "src").is_dir():
                # The tree's own modules come before the project folder's (which the project
                # environment's link file appends to sys.path).
                env["PYTHONPATH"] = str(paths.tree / "src")
            url, token = self.workspace.public_url, None
            mlflow_run, notes = None, []
            if server_up(url):
                days = _token_days(chosen.max_runtime_seconds)
                # Scoped (the owner's work, never accounts or admin), labelled, revoked at the end.
                info, token = self.tokens.create_for(
                    principal.name, f"job {job_id}", token_scopes.JOB, timedelta(days=days)
                )
                self.records.update(job_id, token_key=info.key)
                env.update(
                    ATELIER_URL=url,
                    ATELIER_TOKEN=token,
                    MLFLOW_TRACKING_URI=f"{url}/mlflow",
                    MLFLOW_TRACKING_TOKEN=token,
                )
                tags = {
                    "atelier.job_id": str(job_id),
                    "atelier.profile": profile_name,
                    "atelier.backend": backend_name,
                    "mlflow.user": principal.name,
                }
                mlflow_run, note = try_link(
                    url, token, project or "Default", f"job-{job_id}-{job_target.name}", tags
                )
                if mlflow_run:
                    env["MLFLOW_RUN_ID"] = mlflow_run
                else:
                    notes.append(note)
            else:
                env["ATELIER_WORKSPACE"] = str(self.workspace.root)
                notes.append(
                    f"no Atelier server answers at {url}: the job reads the workspace directly "
                    "and its MLflow run is not linked (start the server with `atelier up`)"
                )
            self.records.update(
                job_id, command=argv, notes=notes, mlflow_run_id=mlflow_run, workdir=str(workdir)
            )
            spec = {
                "argv": argv,
                "env": env,
                "cwd": str(workdir),
                "log": str(paths.log),
                "resources": wanted.as_dict(),
                "python": python if project or model is not None else None,
                "backend": backend_name,
                "compute": self.settings.compute.model_dump(),
                "max_runtime": chosen.max_runtime_seconds,
                "url": url if token else None,
                "token": token,
                # Only a local job inherits an environment (a Ray job gets its own variables).
                "inherit": client_free(environ)
                if environ is not None and backend_name == "local"
                else None,
            }
            paths.log.parent.mkdir(parents=True, exist_ok=True)
            paths.log.touch()
            write_private(paths.spec, json.dumps(spec))
            try:
                self.queue.tick(spare, job_id)
            finally:
                # Once the job was handed to its supervisor: not on the way to its first line.
                self.audit.record(
                    "job.submit",
                    actor=principal.name,
                    target=str(job_id),
                    client=client,
                    detail={
                        "name": job_target.name,
                        "profile": profile_name,
                        "project": project,
                        "tree": staged is not None,
                        **({"model_env": model["ATELIER_MODEL"]} if model is not None else {}),
                    },
                )
            # Ticked just now: reading the job back needs no other tick.
            self._last_tick = time.monotonic()
            return self._info(self.records.get(job_id))
        finally:
            if spare is not None:
                spare.close()

    # -- reading ----------------------------------------------------------------------------

    def _maybe_tick(self) -> None:
        if time.monotonic() - self._last_tick >= TICK_SECONDS:
            self._last_tick = time.monotonic()
            self.queue.tick()

    def get(self, job_id: int) -> JobInfo:
        self._maybe_tick()
        record = self.records.get(job_id)
        if record.kind == "notebook" and record.state in FINAL_STATES:
            output = JobPaths(self.workspace.root, job_id).notebook_output(record.name)
            self._bring_back(job_id, output)
        return self._info(record)

    def _bring_back(self, job_id: int, path: Path) -> Path:
        """An ended job's file, from the bucket when this machine lacks it (:mod:`.artifacts`)."""
        if not self.settings.storage.bucket:
            return path
        from atelier.services.jobs.artifacts import bring_back

        return bring_back(self.settings, self.workspace.root, job_id, path)

    def list(
        self, *, state: str | None = None, user: str | None = None, limit: int = 100
    ) -> list[JobInfo]:
        if state is not None and state not in STATES:
            raise InvalidInput(f"state {state!r} is not one of {', '.join(STATES)}")
        self._maybe_tick()
        query = select(JobRecord).order_by(JobRecord.id.desc()).limit(limit)
        if state is not None:
            query = query.where(JobRecord.state == state)
        if user is not None:
            query = query.where(JobRecord.submitted_by == user)
        with self.db.session() as session:
            return [self._info(record) for record in session.scalars(query)]

    def _info(self, record: JobRecord) -> JobInfo:
        paths = JobPaths(self.workspace.root, record.id)
        output = paths.notebook_output(record.name) if record.kind == "notebook" else None
        return job_info(record, output, paths.tree)

    def samples(self, job_id: int) -> dict[str, Any]:
        """The job's CPU and memory samples (see :mod:`.samples`); ``sampled`` is False for
        a job no sample was taken of (queued, or run where its processes cannot be seen)."""
        from atelier.services.jobs import samples

        job = self.get(job_id)  # NotFound for a wrong id
        path = JobPaths(self.workspace.root, job_id).resources
        if job.state in FINAL_STATES:
            self._bring_back(job_id, path)
        elif not path.exists():
            self._not_here(self.records.get(job_id))
        found = samples.read(path)
        return {
            "job_id": job.id,
            "state": job.state,
            "backend": job.backend,
            "sampled": bool(found),
            "interval": samples.SAMPLE_SECONDS,
            "samples": found,
        }

    def log_path(self, job_id: int) -> Path:
        record = self.records.get(job_id)  # NotFound for a wrong id
        path = JobPaths(self.workspace.root, job_id).log
        if record.state in FINAL_STATES:
            return self._bring_back(job_id, path)
        if not path.exists():
            self._not_here(record)
        return path

    def _not_here(self, record: JobRecord) -> None:
        """A running job's log and samples are written on its machine, and reach the bucket
        when it ends: until then, a server of that machine answers for them. Raise
        :class:`HeldElsewhere` naming it, when the job runs on another machine that has one."""
        from atelier.services.leases import Leases, node_name, server_on

        if not record.host or record.host == node_name():
            return
        address = server_on(Leases(self.db), record.host)
        if address:
            raise HeldElsewhere(
                f"job {record.id} runs on {record.host}: its log and samples are there (at "
                f"{address}) until it ends",
                address,
            )

    def read_log(self, job_id: int, offset: int = 0, limit: int = 1 << 20) -> tuple[str, int]:
        """The log from byte ``offset`` (at most ``limit`` bytes), and where to read next."""
        return _read_log(self.log_path(job_id), offset, limit)

    def follow(
        self, job_id: int, *, poll: float = 0.1, look: float = LOOK_SECONDS
    ) -> Iterator[str]:
        """The log as it grows, until the job has ended and everything was read.

        The log file is looked at every ``look`` seconds while output came in the last
        :data:`BRISK_SECONDS` (or following began), so that a line shows as soon as it is
        written, else every ``poll`` seconds; the job's record is asked whether the job
        ended every ``poll`` seconds while nothing comes."""
        path = self.log_path(job_id)  # NotFound for a wrong id
        offset = 0
        lively = next_ask = time.monotonic()
        while True:
            text, offset = _read_log(path, offset)
            now = time.monotonic()
            if text:
                lively = now
                yield text
                continue
            if now >= next_ask:
                if self.records.get(job_id).state in FINAL_STATES:
                    # Everything written before the job ended, its last line included.
                    while True:
                        text, offset = _read_log(path, offset)
                        if not text:
                            return
                        yield text
                self._maybe_tick()
                next_ask = now + poll
            time.sleep(look if now - lively < BRISK_SECONDS else max(look, poll))

    def wait(self, job_id: int, timeout: float | None = None) -> JobInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.final or (deadline is not None and time.monotonic() >= deadline):
                return info
            time.sleep(0.1)

    # -- cancelling -------------------------------------------------------------------------

    def cancel(
        self, job_id: int, *, principal: Principal, wait: float = 30.0, client: str | None = None
    ) -> JobInfo:
        from atelier.backends.compute.base import Outcome

        with self.queue.locked():
            record = self.records.get(job_id)
            if record.submitted_by != principal.name and principal.role != "admin":
                self.audit.record(
                    "job.cancel",
                    actor=principal.name,
                    target=str(job_id),
                    success=False,
                    client=client,
                )
                raise PermissionDenied(
                    f"job {job_id} belongs to {record.submitted_by}: only they or an admin "
                    "may cancel it"
                )
            if record.state in FINAL_STATES:
                return self._info(record)
            if record.host is None:  # still in Atelier's queue: nothing runs yet
                self.queue.end(job_id, Outcome("cancelled", None, f"cancelled by {principal.name}"))
            else:
                self.records.update(job_id, cancel_requested=True)
                self.queue.signal_supervisor(record)
        self.audit.record("job.cancel", actor=principal.name, target=str(job_id), client=client)
        return self.wait(job_id, wait)


def _read_log(path: Path, offset: int, limit: int = 1 << 20) -> tuple[str, int]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(limit)
    except FileNotFoundError:
        return "", offset
    # Never cut a UTF-8 character in two: keep an incomplete tail for the next read.
    cut = len(data)
    while cut > 0 and cut > len(data) - 4 and (data[cut - 1] & 0xC0) == 0x80:
        cut -= 1
    if cut > 0 and data[cut - 1] >= 0xC0:
        cut -= 1
    if cut <= 0 and data:
        cut = len(data)
    return data[:cut].decode("utf-8", errors="replace"), offset + cut


def _prune(folder: Path) -> None:
    """Drop what a crash left in the folder of incoming trees (anything older than a day)."""
    if not folder.is_dir():
        return
    cutoff = time.time() - INCOMING_SECONDS
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue


def _tree_cwd(text: str) -> str:
    """The folder inside a working tree a job was started from: relative, never ``..``."""
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if text.startswith("/") or ".." in parts or "\0" in text:
        raise InvalidInput(f"cwd {text!r}: give a folder inside the working tree, e.g. src/jobs")
    return "/".join(parts)


def _inside(root: Path, relative: str) -> Path:
    """``root/relative`` when it is a folder of the tree (not through a link), else ``root``."""
    folder = (root / relative) if relative else root
    resolved = folder.resolve()
    if folder.is_dir() and resolved.is_relative_to(root.resolve()):
        return resolved
    return root.resolve()


def resources(profile: ProfileSettings) -> Resources:
    return Resources(profile.cpus, profile.memory_bytes, profile.gpus)


def _token_days(max_runtime: float | None) -> int:
    if not max_runtime:
        return TOKEN_DAYS_WITHOUT_LIMIT
    return min(3650, math.ceil(max_runtime / 86400) + 1)


__all__ = ["ImpossibleRequest", "Jobs"]
