"""Where a job's files live in the workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobPaths:
    root: Path
    job_id: int

    @property
    def log(self) -> Path:
        """The job's output: stdout and stderr together, as it ran."""
        return self.root / "logs" / "jobs" / f"{self.job_id}.log"

    @property
    def supervisor_log(self) -> Path:
        """What the job's supervisor itself reported (its own errors)."""
        return self.root / "logs" / "jobs" / f"{self.job_id}.supervisor.log"

    @property
    def spec(self) -> Path:
        """How to start the job (with its token): private, kept while the job lives."""
        return self.root / ".atelier" / "jobs" / f"{self.job_id}.json"

    @property
    def handle(self) -> Path:
        """The backend's handle of the started job, written before the database is reached."""
        return self.root / ".atelier" / "jobs" / f"{self.job_id}.handle.json"

    @property
    def tree(self) -> Path:
        """The working tree the job brought (it runs there), when it brought one."""
        return self.artifacts / "tree"

    @property
    def resources(self) -> Path:
        """The job's CPU and memory samples (JSON lines, see :mod:`.samples`)."""
        return self.artifacts / "resources.jsonl"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts" / "jobs" / str(self.job_id)

    def notebook_output(self, notebook: str) -> Path:
        return self.artifacts / Path(notebook).name


def queue_lock(root: Path) -> Path:
    return root / ".atelier" / "jobs.lock"


def incoming(root: Path) -> Path:
    """Where working trees are received and unpacked before their job exists."""
    return root / ".atelier" / "jobs" / "incoming"
