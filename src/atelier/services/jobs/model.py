"""What the jobs service returns: one job and its state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from atelier.backends.compute.base import FINAL_STATES
from atelier.backends.metadata import JobRecord
from atelier.backends.metadata.models import utcnow

STATES = ("queued", "running", *FINAL_STATES)


@dataclass(frozen=True)
class JobInfo:
    id: int
    name: str
    kind: str
    project: str | None
    profile: str
    backend: str
    command: list[str]
    params: dict[str, Any]
    resources: dict[str, Any]
    state: str
    reason: str
    notes: list[str]
    exit_code: int | None
    workdir: str
    submitted_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    external_id: str | None
    mlflow_run_id: str | None
    #: The executed notebook, for notebook jobs (once it ran).
    output: Path | None = None
    #: Whether the job runs in a working tree it brought (its ``workdir``).
    tree: bool = False

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def duration(self) -> float | None:
        """Seconds it ran (so far, while it runs)."""
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.__dict__)
        for key in ("created_at", "started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["output"] = str(self.output) if self.output else None
        data["duration"] = self.duration
        data["final"] = self.final
        return data


def job_info(record: JobRecord, output: Path | None, tree: Path | None = None) -> JobInfo:
    return JobInfo(
        id=record.id,
        name=record.name,
        kind=record.kind,
        project=record.project,
        profile=record.profile,
        backend=record.backend,
        command=list(record.command),
        params=dict(record.params or {}),
        resources=dict(record.resources or {}),
        state=record.state,
        reason=record.reason or "",
        notes=list(record.notes or []),
        exit_code=record.exit_code,
        workdir=record.workdir,
        submitted_by=record.submitted_by,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        external_id=record.external_id,
        mlflow_run_id=record.mlflow_run_id,
        output=output if output is not None and output.exists() else None,
        tree=tree is not None and record.workdir == str(tree),
    )
