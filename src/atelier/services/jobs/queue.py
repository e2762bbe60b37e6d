"""The queue: which job starts when, who watches it, and what happens when a watcher is lost.

Every job is watched by its own supervisor process (:mod:`.supervisor`), started detached so
that neither the CLI exiting nor the server restarting stops it. :meth:`Queue.tick` runs
under a file lock (the local backend is one machine by definition), from whichever process
is at hand (a submit, the end of a job, a listing):

1. jobs whose supervisor is gone are found again: the job's process still runs -> a new
   supervisor adopts it; it ended -> its exit code (kept by the launcher) is recorded; no
   trace -> failed, with that reason. No job stays "running" forever;
2. queued jobs start in submission order while their backend has room for them
   (:meth:`~atelier.backends.compute.ComputeBackend.place`).

Several servers (on several machines) can share the workspace: a tick also holds the
``jobs:queue`` lease (:mod:`atelier.services.leases`), so that two machines never start the
same job, and each supervisor holds its job's lease ``job:ID`` and renews it while it watches.
A job of another machine whose lease ran out (that machine stopped, or lost the database for
a whole lease) is taken over by whichever server takes the lease first: a job on a cluster
(Ray) is adopted by a new supervisor here; a local job, whose process was on that machine,
is marked failed with that reason and never started again, so that no job runs twice. The
supervisor that lost its lease stops its job (it can no longer record it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atelier.backends.compute import Resources, open_backend, proctree
from atelier.backends.compute.base import FINAL_STATES, Outcome, exit_outcome
from atelier.backends.compute.local import exit_file_of, read_exit_file
from atelier.backends.metadata import Database, JobRecord
from atelier.config.settings import Settings
from atelier.services.jobs.paths import JobPaths, queue_lock
from atelier.services.jobs.records import JobRecords
from atelier.services.jobs.spare import Spare, supervisor_environment, take_early
from atelier.services.leases import Leases, new_holder, node_name

HOST = node_name()
#: ``sh -c BACKGROUND LOG COMMAND...``: start COMMAND in the background, print its pid.
BACKGROUND = '"$@" </dev/null >>"$0" 2>&1 & echo $!'
#: How a supervisor starts.
SUPERVISOR = (sys.executable, "-m", "atelier.services.jobs.supervisor")


class Queue:
    def __init__(self, db: Database, root: Path, settings: Settings) -> None:
        self.records = JobRecords(db)
        self.root = root
        self.settings = settings
        self.leases = Leases(db, settings.server.lease_seconds)
        self.holder = new_holder()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        path = queue_lock(self.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            # The file lock serializes this machine; the lease, every machine.
            with self.leases.exclusive(QUEUE_LEASE, self.holder):
                yield

    def tick(self, spare: Spare | None = None, job_id: int | None = None) -> None:
        """Find jobs whose supervisor stopped, then start the queued jobs that fit (job
        ``job_id`` with ``spare``, started for it, when that supervisor is still waiting: never
        another job, whose submitter's environment may differ)."""
        with self.locked():
            for job in self.records.unfinished():
                self._reconcile(job)
            jobs = self.records.unfinished()
            busy: dict[str, list[dict[str, Any]]] = {}
            for job in jobs:
                if job.host is not None:
                    busy.setdefault(job.backend, []).append(dict(job.devices or {}))
            full: set[str] = set()
            for job in jobs:
                if job.host is not None or job.state != "queued" or job.backend in full:
                    continue
                backend = open_backend(job.backend, self.settings.compute)
                devices = backend.place(resources_of(job), busy.get(job.backend, []))
                if devices is None:
                    full.add(job.backend)  # first come, first served: no overtaking
                    continue
                busy.setdefault(job.backend, []).append(devices)
                self._claim(job.id, devices, spare if job.id == job_id else None)

    def reconcile(self) -> None:
        """Only find jobs whose supervisor stopped (or whose machine's lease ran out): what a
        server does now and then in the background, so that no job waits for a visitor."""
        with self.locked():
            for job in self.records.unfinished():
                self._reconcile(job)

    def _claim(self, job_id: int, devices: dict[str, Any], spare: Spare | None) -> None:
        paths = JobPaths(self.root, job_id)
        spec = json.loads(paths.spec.read_text(encoding="utf-8"))
        spec["devices"] = devices
        write_private(paths.spec, json.dumps(spec))
        holder = job_holder(job_id)
        # Before the job is this machine's: no other server may think its lease ran out.
        self._lease_for_start(job_id, holder)
        self.records.update(job_id, host=HOST, devices=devices)
        self.start_supervisor(job_id, attach=False, holder=holder, spare=spare)

    def start_supervisor(
        self,
        job_id: int,
        *,
        attach: bool,
        holder: str | None = None,
        spare: Spare | None = None,
    ) -> None:
        """Start the job's supervisor, holding the job's lease as ``holder`` (taken here for a
        new holder: the previous supervisor is known to be gone). A new job goes to ``spare``
        when that one still waits for a job."""
        if holder is None:
            holder = job_holder(job_id)
            self._lease_for_start(job_id, holder)
        if not attach and spare is not None and spare.hand(str(self.root), job_id, holder):
            pid, started = spare.pid, spare.started
        else:
            paths = JobPaths(self.root, job_id)
            paths.supervisor_log.parent.mkdir(parents=True, exist_ok=True)
            command = [*SUPERVISOR, str(self.root), str(job_id), f"--holder={holder}"]
            command += ["--attach"] if attach else []
            pid = _background([str(paths.supervisor_log), *command])
            started = proctree.start_time(pid)
        self.records.update(job_id, supervisor_pid=pid, supervisor_started=started)

    def spare(self) -> Spare | None:
        """A supervisor started now (or earlier by this process, see :mod:`.spare`) before
        its job exists, so that Python and the modules that launch a job load while the job
        is being recorded: give it to :meth:`tick`, and close it after (a spare nobody was
        handed a job ends). None when it cannot start."""
        early = take_early()
        if early is not None:
            return early
        try:
            return Spare()
        except (OSError, subprocess.SubprocessError):
            return None

    def _lease_for_start(self, job_id: int, holder: str) -> None:
        """The job's lease, long enough for its supervisor to start and renew it."""
        seconds = self.leases.seconds + SUPERVISOR_START_SECONDS
        self.leases.acquire(job_lease(job_id), holder, steal=True, seconds=seconds)

    def _reconcile(self, job: JobRecord) -> None:
        if job.host is not None and job.host != HOST:
            self._reconcile_elsewhere(job)
            return
        if job.supervisor_pid is None:
            return
        if proctree.alive(job.supervisor_pid, job.supervisor_started):
            return
        paths = JobPaths(self.root, job.id)
        if job.external_id is None:
            try:
                handle = json.loads(paths.handle.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                handle = None
            if handle is not None:
                job.external_id, job.process_started = handle["external_id"], handle["started"]
                self.records.update(
                    job.id, external_id=job.external_id, process_started=job.process_started
                )
        if job.external_id is None:
            reason = f"its supervisor stopped before the job started (see {paths.supervisor_log})"
            if job.cancel_requested:
                self.end(job.id, Outcome("cancelled", None, reason))
            else:
                self.end(job.id, Outcome("failed", None, reason))
        elif job.backend != "local":
            self.start_supervisor(job.id, attach=True)
        elif proctree.alive(int(job.external_id), job.process_started):
            if job.started_at is None and job.process_started:
                started = datetime.fromtimestamp(job.process_started, UTC)
                self.records.running(job.id, started)
            self.start_supervisor(job.id, attach=True)
        else:
            code = read_exit_file(exit_file_of(paths.log))
            outcome = exit_outcome(code)
            if code is None:
                outcome = Outcome(
                    "failed",
                    None,
                    "the job's process and its supervisor stopped without a result "
                    "(was the machine restarted?)",
                )
            self.end(job.id, outcome)

    def _reconcile_elsewhere(self, job: JobRecord) -> None:
        """A job another machine supervises: taken over once its lease ran out."""
        name = job_lease(job.id)
        current = self.leases.get(name)
        if current is not None and current.live:
            return
        holder = job_holder(job.id)
        seconds = self.leases.seconds + SUPERVISOR_START_SECONDS
        if not self.leases.acquire(name, holder, seconds=seconds):
            return  # another server took it over first
        if job.backend != "local":
            # The job runs on the cluster, not on the lost machine: watch it from here.
            self.records.update(job.id, host=HOST, supervisor_pid=None, supervisor_started=None)
            self.records.add_note(job.id, f"supervision moved from {job.host} to {HOST}")
            self.start_supervisor(job.id, attach=True, holder=holder)
            return
        reason = (
            f"its server on {job.host} stopped renewing the job's lease for "
            f"{self.leases.seconds:g} s (the machine stopped or lost the database); the job "
            "was stopped there and is not started again here, so that it never runs twice: "
            "submit it again"
        )
        if job.cancel_requested:
            self.end(job.id, Outcome("cancelled", None, reason))
        else:
            self.end(job.id, Outcome("failed", None, reason))
        self.leases.release(name, holder)

    def end(self, job_id: int, outcome: Outcome) -> bool:
        """Close the job's MLflow run, record how the job ended, revoke its token and say so
        in its log; False when it had ended already."""
        paths = JobPaths(self.root, job_id)
        record = self.records.get(job_id)
        if record.state in FINAL_STATES:
            return False
        try:
            spec = json.loads(paths.spec.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            spec = {}
        if record.mlflow_run_id and spec.get("token") and spec.get("url"):
            from atelier.services.jobs.links import MlflowLink

            with contextlib.suppress(Exception):  # the run is a convenience; the job ended
                MlflowLink(spec["url"], spec["token"]).end_run(record.mlflow_run_id, outcome.state)
        if outcome.state != "succeeded":  # before the state: a reader of a final job sees it
            with contextlib.suppress(OSError):
                paths.log.parent.mkdir(parents=True, exist_ok=True)
                with paths.log.open("a", encoding="utf-8") as log:
                    log.write(f"\n[atelier] job {job_id} {describe(outcome)}\n")
        if self.settings.storage.bucket:  # its folder and log, for every server to read
            from atelier.services.jobs.artifacts import persist

            persist(self.settings, self.root, job_id)
        if not self.records.finish(job_id, outcome):
            return False
        paths.spec.unlink(missing_ok=True)
        paths.handle.unlink(missing_ok=True)
        return True

    def signal_supervisor(self, job: JobRecord) -> bool:
        """Ask the job's supervisor to stop the job; False if it is not here to ask."""
        if job.host != HOST or job.supervisor_pid is None:
            return False
        if not proctree.alive(job.supervisor_pid, job.supervisor_started):
            return False
        if job.external_id is None and not JobPaths(self.root, job.id).handle.exists():
            # Still starting up (its handler may not be installed yet): it reads the
            # cancel_requested flag as soon as it reaches the database.
            return False
        try:
            os.kill(job.supervisor_pid, signal.SIGTERM)
        except OSError:
            return False
        return True


def _background(args: list[str]) -> int:
    """Start ``args`` in the background of a short-lived shell (:data:`BACKGROUND`), in a
    session of its own, with this process's environment (see :func:`supervisor_environment`):
    it is nobody's child to reap, and Ctrl-C in the terminal that submitted does not reach it.
    Its pid."""
    started = subprocess.run(
        ["/bin/sh", "-c", BACKGROUND, *args],
        capture_output=True,
        text=True,
        env=supervisor_environment(),
        check=True,
        start_new_session=True,
    )
    return int(started.stdout.strip())


#: How long a new supervisor may take to start renewing its job's lease (a loaded machine
#: may need a while to start Python and reach the database).
SUPERVISOR_START_SECONDS = 60.0
#: The lease a tick holds: one machine at a time starts queued jobs.
QUEUE_LEASE = "jobs:queue"


def job_lease(job_id: int) -> str:
    """The lease of the supervisor that watches job ``job_id``."""
    return f"job:{job_id}"


def job_holder(job_id: int) -> str:
    """A holder id for a supervisor of job ``job_id``, made before it starts (so not by its
    pid, which a lease would take for the process holding it)."""
    return f"{HOST}:supervisor-{job_id}:{secrets.token_hex(4)}"


def describe(outcome: Outcome) -> str:
    text = outcome.state.replace("_", " ")
    return f"{text}: {outcome.reason}" if outcome.reason else text


def resources_of(job: JobRecord) -> Resources:
    data = job.resources or {}
    return Resources(float(data["cpus"]), int(data["memory"]), int(data.get("gpus", 0)))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only, replacing ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
