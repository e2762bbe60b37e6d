"""The base class every compute backend implements, and the values it exchanges."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from atelier.config.units import format_size
from atelier.errors import AtelierError

#: The states a job ends in.
FINAL_STATES = ("succeeded", "failed", "cancelled", "timed_out")


class ImpossibleRequest(AtelierError):
    """No machine or node of the backend could ever give the job what its profile asks."""

    status_code = 422


@dataclass(frozen=True)
class Resources:
    """What a job asks for (a profile), or what a machine or node has."""

    cpus: float
    memory: int
    gpus: int = 0

    def covers(self, wanted: Resources) -> bool:
        return (
            self.cpus >= wanted.cpus and self.memory >= wanted.memory and self.gpus >= wanted.gpus
        )

    def describe(self, *, gpus_always: bool = False) -> str:
        cpus = f"{self.cpus:g} CPU{'s' if self.cpus != 1 else ''}"
        gpus = f", {self.gpus} GPU{'s' if self.gpus != 1 else ''}"
        gpus = gpus if self.gpus or gpus_always else ""
        return f"{cpus}, {format_size(self.memory)} memory{gpus}"

    @property
    def whole_cpus(self) -> int:
        """Cores to pin and threads to allow: a fractional CPU still needs one core."""
        return max(1, math.ceil(self.cpus))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Capacity:
    """What a backend offers: the largest single place a job can run, and everything."""

    largest: Resources
    total: Resources
    where: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "largest": self.largest.as_dict(),
            "total": self.total.as_dict(),
            "where": self.where,
        }


@dataclass
class LaunchSpec:
    """Everything a backend needs to start one job."""

    job_id: int
    argv: list[str]
    #: Variables added to the job's environment.
    env: dict[str, str]
    cwd: Path
    #: The job's output (stdout and stderr together) goes to this file.
    log: Path
    resources: Resources
    #: What :meth:`ComputeBackend.place` gave the job (local: core and GPU numbers).
    devices: dict[str, Any] = field(default_factory=dict)
    #: The project environment's interpreter, when the job has one.
    python: str | None = None
    #: The environment the job inherits (its submitter's) instead of this process's.
    inherit: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    state: Literal["succeeded", "failed", "cancelled", "timed_out"]
    exit_code: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Status:
    """What :meth:`Execution.poll` sees: still waiting, running, or done with an outcome."""

    phase: Literal["queued", "running", "done"]
    outcome: Outcome | None = None
    #: Why it still waits (e.g. the cluster has no free GPU), shown to the user.
    note: str = ""


class Execution(ABC):
    """One job running on a backend, as its supervisor sees it."""

    #: The backend's handle: a process id, a submission id.
    external_id: str
    #: When the local process started (to tell a reused pid apart); None elsewhere.
    process_started: float | None = None

    @abstractmethod
    def poll(self) -> Status:
        """Look at the job now; also where limits are enforced and logs are mirrored."""

    @abstractmethod
    def stop(self, grace: float = 5.0) -> None:
        """End the job and everything it started; ``grace`` seconds to exit cleanly first."""

    def processes(self) -> list[int] | None:
        """The ids of the job's processes on this machine, to sample their CPU and memory;
        None where the job runs elsewhere (a cluster) and is not sampled."""
        return None


class ComputeBackend(ABC):
    """A place jobs run. Subclasses implement capacity, launch and attach."""

    name: ClassVar[str]

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    @abstractmethod
    def capacity(self) -> Capacity:
        """What this backend can offer right now (for ``atelier profiles`` and checks)."""

    def check(self, wanted: Resources, profile: str) -> None:
        """Raise :class:`ImpossibleRequest` when no single place could ever run the job."""
        capacity = self.capacity()
        if not capacity.largest.covers(wanted):
            raise ImpossibleRequest(
                f"profile {profile!r} asks for {wanted.describe()}, but {capacity.where} has at "
                f"most {capacity.largest.describe(gpus_always=wanted.gpus > 0)}: choose a "
                "smaller profile or change "
                f"[profiles.{profile}] in atelier.toml"
            )

    def place(self, wanted: Resources, busy: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Devices for a job that may start now, or None to keep it queued.

        ``busy`` holds what earlier :meth:`place` calls gave the jobs still running. The
        default admits every job: backends with their own scheduler (Ray) queue it there.
        """
        return {}

    @abstractmethod
    def launch(self, spec: LaunchSpec) -> Execution:
        """Start the job; called in its supervisor process."""

    @abstractmethod
    def attach(
        self, external_id: str, process_started: float | None, spec: LaunchSpec
    ) -> Execution | None:
        """Find a job started earlier (its supervisor stopped), or None when it is gone."""


def exit_outcome(code: int | None, *, signal_hint: str = "") -> Outcome:
    """The outcome of a process that exited with ``code`` (None: unknown)."""
    if code == 0:
        return Outcome("succeeded", 0)
    if code is None:
        return Outcome("failed", None, "the job's process ended and its exit code is unknown")
    import signal

    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
        return Outcome("failed", code, f"killed by {name}{hint}{signal_hint}")
    return Outcome("failed", code, f"exit code {code}")
