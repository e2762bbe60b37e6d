"""A job's supervisor: ``python -m atelier.services.jobs.supervisor WORKSPACE JOB [--attach]``.

One detached process per job, started by the queue. It launches the job first (before the
database is even imported, so output starts as soon as possible: a local job starts before
pydantic, SQLAlchemy or the settings are loaded, from the spec the service validated), then
records its handle
and watches it: the state, the runtime limit, cancellation (SIGTERM to the supervisor, or the
job's ``cancel_requested`` flag) and, through the backend, memory and mirrored logs. When the
job ends it records the outcome and starts what the queue has room for. ``--attach`` adopts a
job whose first supervisor stopped. ``--spare`` starts before its job exists (while the job is
being recorded) and is told on its standard input which job it supervises (see :mod:`.spare`).

It holds the job's lease (``--holder=ID``, taken by whoever started it) and renews it while it
watches, so that a server on another machine knows the job is looked after. Should the lease
be taken over (this machine lost the database for a whole lease, and another server declared
the job failed), the job is stopped here: it has been reported, and must not go on unseen.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

from atelier.backends.compute.base import Execution, LaunchSpec, Outcome, Resources
from atelier.backends.compute.registry import backend_class
from atelier.services.jobs.paths import JobPaths
from atelier.services.jobs.samples import Sampling
from atelier.services.jobs.spare import SPARE, read_job

#: How often the database is asked whether someone wants the job cancelled.
CANCEL_CHECK_SECONDS = 2.0
#: Grace a cancelled or timed-out job gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 5.0


class LeaseLost(Exception):
    """Another server took the job over: it is no longer this supervisor's to record."""


class Supervisor:
    def __init__(
        self, root: Path, job_id: int, spec: dict[str, Any], holder: str | None = None
    ) -> None:
        self.root = root
        self.holder = holder
        self.leases: Any = None
        self.execution: Execution | None = None
        self._next_renewal = 0.0
        self.job_id = job_id
        self.spec = spec
        if spec["backend"] == "local":
            # Launching a local job reads no settings: the checked ones (the service wrote
            # them from its validated settings) replace this view once the job runs.
            self.backend = backend_class("local")(SimpleNamespace(**spec["compute"]))
        else:
            self.backend = backend_class(spec["backend"])(self.compute_settings())
        self.launch_spec = LaunchSpec(
            job_id=job_id,
            argv=list(spec["argv"]),
            env=dict(spec["env"]),
            cwd=Path(spec["cwd"]),
            log=Path(spec["log"]),
            resources=Resources(**spec["resources"]),
            devices=dict(spec.get("devices") or {}),
            python=spec.get("python"),
            inherit=spec.get("inherit"),
        )
        self.max_runtime: float | None = spec.get("max_runtime")
        self.sampling: Sampling | None = None
        self.cancel_signalled = False

    def compute_settings(self) -> Any:
        from atelier.config.settings import ComputeSettings

        return ComputeSettings(**self.spec["compute"])

    def on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self.cancel_signalled = True

    def run(self, attach: bool) -> None:
        from atelier.backends.compute import proctree

        proctree.become_subreaper()
        signal.signal(signal.SIGTERM, self.on_sigterm)
        execution: Execution | None = None
        failure = ""
        launched_at = datetime.now(UTC)
        if not attach:
            try:
                execution = self.backend.launch(self.launch_spec)
            except Exception as exc:  # reported as the job's failure, not lost
                failure = f"could not start: {exc}"
            else:
                # Should this process die before it reaches the database, the queue still
                # finds the job by this handle.
                handle = {
                    "external_id": execution.external_id,
                    "started": execution.process_started,
                }
                JobPaths(self.root, self.job_id).handle.write_text(json.dumps(handle))
                self.start_sampling(execution)
        queue, records = self._open_store()
        self.backend.settings = self.compute_settings()
        self.leases = queue.leases
        if self.holder is None:  # started by an older version: the lease is taken here
            from atelier.services.leases import new_holder

            self.holder = new_holder()
            self.leases.acquire(self.lease, self.holder, steal=True)
        self.execution = execution
        try:
            self._supervise(attach, execution, failure, launched_at, queue, records)
        except LeaseLost:
            if self.execution is not None:
                self.execution.stop(STOP_GRACE_SECONDS)
            return
        finally:
            if self.sampling is not None:
                self.sampling.stop()
        self.leases.release(self.lease, self.holder)

    @property
    def lease(self) -> str:
        from atelier.services.jobs.queue import job_lease

        return job_lease(self.job_id)

    def keep_lease(self) -> None:
        """Renew the job's lease every third of its duration; raise when it was taken over."""
        now = time.monotonic()
        if now < self._next_renewal or self.holder is None:
            return
        self._next_renewal = now + self.leases.seconds / 3
        try:
            renewed = self.leases.renew(self.lease, self.holder)
        except Exception:  # the database may be away a moment: the lease outlasts it
            return
        if not renewed:
            raise LeaseLost(self.lease)

    def _supervise(
        self,
        attach: bool,
        execution: Execution | None,
        failure: str,
        launched_at: datetime,
        queue: Any,
        records: Any,
    ) -> None:
        self.keep_lease()
        started_at = None
        if attach:
            record = records.get(self.job_id)
            started_at = record.started_at
            execution = self.execution = self.backend.attach(
                record.external_id or "", record.process_started, self.launch_spec
            )
            if execution is None:
                from atelier.backends.compute.base import exit_outcome
                from atelier.backends.compute.local import exit_file_of, read_exit_file

                code = read_exit_file(exit_file_of(self.launch_spec.log))
                queue.end(self.job_id, exit_outcome(code))
                queue.tick()
                return
        if execution is None:
            queue.end(self.job_id, Outcome("failed", None, failure))
            queue.tick()
            return
        if self.sampling is None:  # adopted: sampling starts again here
            self.start_sampling(execution)
        records.update(
            self.job_id,
            external_id=execution.external_id,
            process_started=execution.process_started,
        )
        outcome = self.watch(execution, records, started_at, launched_at)
        queue.end(self.job_id, outcome)
        queue.tick()

    def watch(
        self, execution: Execution, records: Any, started_at: Any, launched_at: datetime
    ) -> Outcome:
        running_since = None
        if started_at is not None:  # adopted: count the runtime from the real start
            running_since = time.monotonic() - (datetime.now(UTC) - started_at).total_seconds()
        next_cancel_check = time.monotonic()  # a cancel may have come while it started
        note = ""
        begun = time.monotonic()
        first = True
        while True:
            status = execution.poll()
            now = time.monotonic()
            if status.phase != "queued" and running_since is None:
                running_since = now
                # Seen running (or already done) at the first look: it started at launch.
                records.running(self.job_id, launched_at if first else datetime.now(UTC))
            first = False
            if status.outcome is not None:
                return status.outcome
            self.keep_lease()
            if status.note != note:
                note = status.note
                records.update(self.job_id, reason=note)
            if now >= next_cancel_check:
                next_cancel_check = now + CANCEL_CHECK_SECONDS
                self.cancel_signalled |= bool(records.get(self.job_id).cancel_requested)
            if self.cancel_signalled:
                execution.stop(STOP_GRACE_SECONDS)
                return Outcome("cancelled", None, "cancelled on request")
            if (
                self.max_runtime
                and running_since is not None
                and now - running_since > self.max_runtime
            ):
                execution.stop(STOP_GRACE_SECONDS)
                limit = timedelta(seconds=round(self.max_runtime))
                return Outcome(
                    "timed_out",
                    None,
                    f"ran past the profile's max_runtime ({limit}); stopped",
                )
            # Poll fast at first, so that short jobs are reported done quickly.
            time.sleep(0.05 if now - begun < 2 else 0.2)

    def start_sampling(self, execution: Execution) -> None:
        """CPU and memory of the job's processes every few seconds, while it runs (see
        :mod:`.samples`; nothing for a job whose processes are elsewhere)."""
        self.sampling = Sampling(
            execution.processes,
            JobPaths(self.root, self.job_id).resources,
            started=execution.process_started,
        )
        self.sampling.start()

    def _open_store(self) -> tuple[Any, Any]:
        from atelier.backends.metadata import Database
        from atelier.config import Workspace
        from atelier.services.jobs.queue import Queue
        from atelier.services.jobs.records import JobRecords

        workspace = Workspace.open(self.root)
        db = Database(workspace.metadata_url)
        return Queue(db, self.root, workspace.settings), JobRecords(db)


def main(argv: list[str]) -> None:
    holder: str | None
    if argv == [SPARE]:
        handed = wait_for_job()
        if handed is None:
            return
        root, job_id, holder = handed
        attach = False
    else:
        root, job_id = Path(argv[0]), int(argv[1])
        attach = "--attach" in argv[2:]
        holder = next((a.split("=", 1)[1] for a in argv[2:] if a.startswith("--holder=")), None)
    spec = json.loads(JobPaths(root, job_id).spec.read_text(encoding="utf-8"))
    Supervisor(root, job_id, spec, holder).run(attach)


def wait_for_job() -> tuple[Path, int, str] | None:
    """A spare supervisor's wait (see :mod:`.spare`): the modules that launch a local job are
    loaded, then the job is read from standard input. At the end of the input (nobody handed
    it a job) there is nothing to do: None. From then on the process writes to the job's
    supervisor log and reads nothing."""
    backend_class("local")  # loaded now: Supervisor() finds it imported
    handed = read_job(sys.stdin.buffer.readline())
    if handed is None:
        return None
    root, job_id, holder = Path(handed[0]), handed[1], handed[2]
    log = JobPaths(root, job_id).supervisor_log
    log.parent.mkdir(parents=True, exist_ok=True)
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    quiet = os.open(os.devnull, os.O_RDONLY)
    for fd, source in ((0, quiet), (1, output), (2, output)):
        os.dup2(source, fd)
    os.close(output)
    os.close(quiet)
    return root, job_id, holder


if __name__ == "__main__":
    main(sys.argv[1:])
