"""Job rows: targeted updates (the submitter, the queue and the supervisor each write their
own columns), and the one way a job ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from atelier.backends.compute.base import FINAL_STATES, Outcome
from atelier.backends.metadata import ApiToken, Database, JobRecord
from atelier.backends.metadata.models import utcnow
from atelier.errors import NotFound


class JobRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, job_id: int) -> JobRecord:
        with self.db.session() as session:
            record = session.get(JobRecord, job_id)
            if record is None:
                raise NotFound(f"job {job_id} not found (see `atelier jobs list`)")
            return record

    def update(self, job_id: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))

    def add_note(self, job_id: int, note: str) -> None:
        with self.db.session() as session:
            record = session.get(JobRecord, job_id)
            if record is not None and note not in (record.notes or []):
                record.notes = [*(record.notes or []), note]

    def running(self, job_id: int, started_at: datetime) -> None:
        with self.db.session() as session:
            session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.state == "queued")
                .values(state="running", started_at=started_at, reason="")
            )

    def finish(self, job_id: int, outcome: Outcome) -> bool:
        """Record how the job ended and revoke its token; False when it had ended already."""
        now = utcnow()
        with self.db.session() as session:
            record = session.get(JobRecord, job_id)
            if record is None or record.state in FINAL_STATES:
                return False
            record.state = outcome.state
            record.exit_code = outcome.exit_code
            record.reason = outcome.reason
            record.finished_at = now
            if record.token_key:
                session.execute(
                    update(ApiToken)
                    .where(ApiToken.key == record.token_key, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
        return True

    def unfinished(self) -> list[JobRecord]:
        with self.db.session() as session:
            query = (
                select(JobRecord).where(JobRecord.state.not_in(FINAL_STATES)).order_by(JobRecord.id)
            )
            return list(session.scalars(query))
