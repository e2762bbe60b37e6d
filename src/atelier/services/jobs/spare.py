"""Spare supervisors: a job's supervisor started before the job exists.

A supervisor is a fresh Python process that loads the modules that launch a job before it
launches it. A spare does that while the job is being recorded: it waits on a pipe, and the
queue hands it the job it was started for (``{"root": ..., "job": ..., "holder": ...}``, one
line of JSON). Its output goes to the job's supervisor log from then on.
A spare nobody hands a job reads the end of its input and ends, having done nothing.

``atelier run`` starts one (:func:`start_early`) as soon as it knows it runs a job on this
machine, before it opens the workspace; a server that submits for a command gives one to the
next job it submits (:func:`early`). The jobs service takes it (:func:`take_early`) or starts
its own once nothing can refuse the job any more.

The module is light (the CLI imports it before anything heavy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar

#: ``python -m atelier.services.jobs.supervisor --spare``: waits for its job on its input.
SPARE = "--spare"
#: ``sh -c SPARE_BACKGROUND NAME COMMAND...``: start COMMAND in the background reading this
#: shell's input (the pipe), in a session of its own, nobody's child to reap; print its pid.
#: (A background command's input is /dev/null before its own redirections: the pipe is kept
#: as descriptor 3 first.)
SPARE_BACKGROUND = 'exec 3<&0; "$@" <&3 3<&- >/dev/null 2>&1 & echo $!'
#: Client settings of whoever starts a supervisor; a job gets its own (see :mod:`.queue`).
CLIENT_VARIABLES = frozenset(
    {
        "ATELIER_URL",
        "ATELIER_TOKEN",
        "ATELIER_WORKSPACE",
        "ATELIER_JOB_ID",
        "ATELIER_PROJECT",
        "ATELIER_PROFILE",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_RUN_ID",
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_NAME",
    }
)


def supervisor_environment() -> dict[str, str]:
    """A supervisor's environment: this process's, without the client settings."""
    return client_free(os.environ)


def client_free(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the client settings (a job gets its own)."""
    return {k: v for k, v in environ.items() if k not in CLIENT_VARIABLES}


class Spare:
    """A supervisor waiting for its job (see the module's description)."""

    def __init__(self) -> None:
        reader, writer = os.pipe()
        try:
            self._shell: subprocess.Popen[str] | None = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    SPARE_BACKGROUND,
                    "spare-supervisor",
                    sys.executable,
                    "-m",
                    "atelier.services.jobs.supervisor",
                    SPARE,
                ],
                stdin=reader,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=supervisor_environment(),
                start_new_session=True,
            )
        except BaseException:
            os.close(writer)
            raise
        finally:
            os.close(reader)
        self._writer: int | None = writer
        self._pid: int | None = None
        self.started: float | None = None

    @property
    def pid(self) -> int | None:
        """The supervisor's process id (None when its shell failed to start it)."""
        if self._shell is not None:
            shell, self._shell = self._shell, None
            out, _ = shell.communicate()
            try:
                self._pid = int(out.strip())
            except ValueError:
                self._pid = None
        return self._pid

    def hand(self, root: str, job_id: int, holder: str) -> bool:
        """Tell the spare which job it supervises, as ``holder``; False when it cannot be
        told (it stopped, or was handed a job already). Its start time is known from then on
        (:attr:`started`)."""
        from atelier.backends.compute import proctree

        pid = self.pid
        if self._writer is None or pid is None or not proctree.alive(pid):
            self.close()
            return False
        self.started = proctree.start_time(pid)
        handed = {"root": root, "job": job_id, "holder": holder}
        message = (json.dumps(handed) + "\n").encode("utf-8")
        try:
            while message:  # a long workspace path may need more than one write
                message = message[os.write(self._writer, message) :]
        except OSError:
            return False
        finally:
            self.close()
        return True

    def close(self) -> None:
        """Let a spare that has no job end (it reads the end of its input)."""
        if self._writer is not None:
            os.close(self._writer)
            self._writer = None
        if self._shell is not None:
            self._shell.communicate()  # the shell that started it: reaped
            self._shell = None


def read_job(line: bytes) -> tuple[str, int, str] | None:
    """The workspace, job id and lease holder a spare was handed; None for no job."""
    try:
        found = json.loads(line)
        root, job_id, holder = found["root"], found["job"], found["holder"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not (isinstance(root, str) and isinstance(job_id, int) and isinstance(holder, str)):
        return None
    return root, job_id, holder


#: The spare for the job about to be submitted in this thread of control: one started early
#: (:func:`start_early`), or where a server keeps them, what gives one (:func:`early`), asked
#: only once nothing can refuse the job.
_early: ContextVar[Spare | Callable[[], Spare | None] | None] = ContextVar(
    "early_spare", default=None
)


def start_early() -> Spare | None:
    """Start a spare for a job this process is about to submit (``atelier run``), for the
    jobs service to use (:func:`take_early`); None when one cannot start."""
    if _early.get() is None:
        try:
            _early.set(Spare())
        except (OSError, subprocess.SubprocessError):
            return None
    found = _early.get()
    return found if isinstance(found, Spare) else None


def early(source: Callable[[], Spare | None]) -> None:
    """Let the next job submitted in this thread of control take its spare from ``source``
    (called by the jobs service once nothing can refuse the job)."""
    _early.set(source)


def take_early() -> Spare | None:
    """The spare given early in this thread of control, if any (each is taken once)."""
    found = _early.get()
    _early.set(None)
    return found if isinstance(found, Spare) or found is None else found()


def discard_early() -> None:
    """Let an early spare that was not used end (a source not asked starts none)."""
    found = _early.get()
    _early.set(None)
    if isinstance(found, Spare):
        found.close()
