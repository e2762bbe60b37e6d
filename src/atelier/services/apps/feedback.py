"""Feedback on predictions: users say right or wrong, give the correct value, comment.

A submission quotes a prediction made through the app (its id, returned with the prediction).
It is stored in the metadata database at once (one transaction: durable when the user sees
"thanks"), with the prediction's inputs and output copied from the prediction log. Entries
are shipped in batches to the warehouse table ``feedback.<app>`` (one DuckLake snapshot per
batch, so the table is versioned), where ``label`` is the value to train on: the correct
value given, or the prediction itself when the user said it was right.

Feedback keeps no raw personal data: the inputs are copied from the prediction log, whose
personal fields were masked before they were logged, and a comment or correct value in which
the classifier finds personal data (an e-mail address, a phone number, "Mr Smith"...) is
masked as ``free_text_with_pii`` by the workspace's rule before it is stored
(:meth:`atelier.services.serving.personal.PersonalData.mask_text`).
"""

from __future__ import annotations

import fcntl
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from atelier.backends.metadata import AppFeedback, AppRecord, Database
from atelier.errors import InvalidInput
from atelier.services.apps.registry import AppInfo
from atelier.services.serving.personal import PersonalData
from atelier.services.serving.tables import arrow_rows, create_statements, insert, table_name

if TYPE_CHECKING:
    import duckdb

    from atelier.backends.warehouse import Warehouse

SCHEMA = "feedback"
VERDICTS = ("right", "wrong")
MAX_TEXT = 4000
#: Entries shipped to the warehouse per snapshot.
BATCH = 5000
COLUMNS = (
    ("feedback_id", "BIGINT"),
    ("prediction_id", "VARCHAR"),
    ("app", "VARCHAR"),
    ("model", "VARCHAR"),
    ("model_version", "INTEGER"),
    ("verdict", "VARCHAR"),
    ("correct_value", "VARCHAR"),
    ("label", "VARCHAR"),
    ("comment", "VARCHAR"),
    ("given_by", "VARCHAR"),
    ("given_at", "TIMESTAMPTZ"),
    ("inputs", "VARCHAR"),
    ("prediction", "VARCHAR"),
    ("probability", "DOUBLE"),
)

FindPrediction = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True)
class FeedbackEntry:
    id: int
    app: str
    prediction_id: str
    model: str
    model_version: int
    verdict: str
    correct_value: str | None
    comment: str
    user: str
    created_at: datetime
    inputs: dict[str, Any]
    prediction: str | None
    probability: float | None

    @property
    def label(self) -> str | None:
        if self.correct_value:
            return self.correct_value
        return self.prediction if self.verdict == "right" else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "prediction_id": self.prediction_id,
            "model": self.model,
            "model_version": self.model_version,
            "verdict": self.verdict,
            "correct_value": self.correct_value,
            "label": self.label,
            "comment": self.comment,
            "user": self.user,
            "created_at": self.created_at.isoformat(),
            "inputs": self.inputs,
            "prediction": self.prediction,
            "probability": self.probability,
        }


@dataclass(frozen=True)
class FeedbackSummary:
    app: str
    total: int
    right: int
    #: Share of "right" verdicts; None before any feedback.
    agreement: float | None
    #: ``[{"version", "total", "right", "agreement"}]``, newest version first.
    by_version: list[dict[str, Any]]
    comments: list[FeedbackEntry]
    entries: list[FeedbackEntry]

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "total": self.total,
            "right": self.right,
            "wrong": self.total - self.right,
            "agreement": self.agreement,
            "by_version": self.by_version,
            "comments": [e.as_dict() for e in self.comments],
            "entries": [e.as_dict() for e in self.entries],
            "table": f"{SCHEMA}.{table_name(self.app)}",
        }


class Feedback:
    def __init__(
        self,
        db: Database,
        warehouse: Warehouse,
        find_prediction: FindPrediction,
        lock_path: Path | None = None,
        personal: PersonalData | None = None,
        notify: Callable[[AppInfo, FeedbackEntry], None] | None = None,
    ) -> None:
        self.db = db
        #: Told of each feedback entry stored (the app owner's activity).
        self.notify = notify
        #: Masks personal data found in comments and correct values before they are stored.
        self.personal = personal
        self.warehouse = warehouse
        self.find_prediction = find_prediction
        #: Held while shipping, so that two processes never copy the same entries at once.
        self.lock_path = lock_path

    def submit(
        self,
        app: AppInfo,
        prediction_id: str,
        verdict: str,
        *,
        user: str,
        correct_value: str | None = None,
        comment: str = "",
    ) -> FeedbackEntry:
        verdict = verdict.strip().lower()
        if verdict not in VERDICTS:
            raise InvalidInput(f"verdict {verdict!r} is not 'right' or 'wrong'")
        if app.model is None:
            raise InvalidInput(f"app {app.name!r} serves no model: it takes no feedback")
        correct = (correct_value or "").strip() or None
        comment = comment.strip()
        if len(comment) > MAX_TEXT or len(correct or "") > MAX_TEXT:
            raise InvalidInput(f"comment and correct value may have up to {MAX_TEXT} characters")
        model_name = app.model.partition("@")[0]
        logged = self.find_prediction(prediction_id, model_name)
        if logged.get("app") != app.name:
            raise InvalidInput(
                f"prediction {prediction_id!r} was not made through app {app.name!r}"
            )
        if self.personal is not None:
            comment = self.personal.mask_text(comment) or ""
            correct = self.personal.mask_text(correct)
        with self.db.session() as session:
            app_id = session.scalar(select(AppRecord.id).where(AppRecord.name == app.name))
            row = AppFeedback(
                app_id=app_id,
                prediction_id=prediction_id,
                model=logged["model"],
                model_version=int(logged["model_version"]),
                verdict=verdict,
                correct_value=correct,
                comment=comment,
                user=user,
                inputs=logged.get("inputs") or "{}",
                prediction=logged.get("prediction"),
                probability=logged.get("probability"),
                shipped=False,
            )
            session.add(row)
            session.flush()
            entry = _entry(row, app.name)
        if self.notify is not None:
            self.notify(app, entry)
        return entry

    def summary(self, app: str, *, limit: int = 100) -> FeedbackSummary:
        with self.db.session() as session:
            app_id = session.scalar(select(AppRecord.id).where(AppRecord.name == app))
            counts = session.execute(
                select(AppFeedback.model_version, AppFeedback.verdict, func.count())
                .where(AppFeedback.app_id == app_id)
                .group_by(AppFeedback.model_version, AppFeedback.verdict)
            ).all()
            rows = session.scalars(
                select(AppFeedback)
                .where(AppFeedback.app_id == app_id)
                .order_by(AppFeedback.id.desc())
                .limit(limit)
            ).all()
            entries = [_entry(row, app) for row in rows]
            commented = session.scalars(
                select(AppFeedback)
                .where(AppFeedback.app_id == app_id, AppFeedback.comment != "")
                .order_by(AppFeedback.id.desc())
                .limit(10)
            ).all()
            comments = [_entry(row, app) for row in commented]
        versions: dict[int, dict[str, int]] = defaultdict(lambda: {"total": 0, "right": 0})
        for version, verdict, count in counts:
            versions[version]["total"] += count
            if verdict == "right":
                versions[version]["right"] += count
        total = sum(v["total"] for v in versions.values())
        right = sum(v["right"] for v in versions.values())
        by_version = [
            {"version": version, **v, "agreement": v["right"] / v["total"]}
            for version, v in sorted(versions.items(), reverse=True)
        ]
        return FeedbackSummary(
            app, total, right, right / total if total else None, by_version, comments, entries
        )

    def count(self, app: str) -> int:
        with self.db.session() as session:
            found: int = (
                session.scalar(
                    select(func.count())
                    .select_from(AppFeedback)
                    .join(AppRecord, AppRecord.id == AppFeedback.app_id)
                    .where(AppRecord.name == app)
                )
                or 0
            )
            return found

    def ship(self) -> int:
        """Copy entries not yet in the warehouse to ``feedback.<app>``; how many were copied.

        A replay after a failure skips ids that landed already, so nothing is doubled."""
        if self.lock_path is None:
            return self._ship()
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            return self._ship()

    def _ship(self) -> int:
        shipped = 0
        while True:
            with self.db.session() as session:
                pending = session.execute(
                    select(AppFeedback, AppRecord.name)
                    .join(AppRecord, AppRecord.id == AppFeedback.app_id)
                    .where(AppFeedback.shipped.is_(False))
                    .order_by(AppFeedback.id)
                    .limit(BATCH)
                ).all()
                entries = [_entry(row, name) for row, name in pending]
            if not entries:
                return shipped
            groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for entry in entries:
                groups[table_name(entry.app)].append(_warehouse_row(entry))
            batches = {table: arrow_rows(rows, COLUMNS) for table, rows in groups.items()}

            def write(
                connection: duckdb.DuckDBPyConnection, batches: dict[str, Any] = batches
            ) -> None:
                for table, rows in batches.items():
                    for statement in create_statements(SCHEMA, table, COLUMNS):
                        connection.execute(statement)
                    insert(connection, SCHEMA, table, rows, "feedback_id", skip_existing=True)

            self.warehouse.run_write(
                write, author="atelier", message=f"{len(entries)} feedback entries"
            )
            with self.db.session() as session:
                session.execute(
                    update(AppFeedback)
                    .where(AppFeedback.id.in_([e.id for e in entries]))
                    .values(shipped=True)
                )
            shipped += len(entries)


def _warehouse_row(entry: FeedbackEntry) -> dict[str, Any]:
    return {
        "feedback_id": entry.id,
        "prediction_id": entry.prediction_id,
        "app": entry.app,
        "model": entry.model,
        "model_version": entry.model_version,
        "verdict": entry.verdict,
        "correct_value": entry.correct_value,
        "label": entry.label,
        "comment": entry.comment,
        "given_by": entry.user,
        "given_at": entry.created_at,
        "inputs": json.dumps(entry.inputs, separators=(",", ":")),
        "prediction": entry.prediction,
        "probability": entry.probability,
    }


def _entry(row: AppFeedback, app: str) -> FeedbackEntry:
    try:
        inputs = json.loads(row.inputs or "{}")
    except json.JSONDecodeError:
        inputs = {}
    return FeedbackEntry(
        id=row.id,
        app=app,
        prediction_id=row.prediction_id,
        model=row.model,
        model_version=row.model_version,
        verdict=row.verdict,
        correct_value=row.correct_value,
        comment=row.comment,
        user=row.user,
        created_at=row.created_at,
        inputs=inputs if isinstance(inputs, dict) else {},
        prediction=row.prediction,
        probability=row.probability,
    )
