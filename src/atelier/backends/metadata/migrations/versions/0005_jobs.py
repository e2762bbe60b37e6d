"""Jobs: scripts, notebooks and commands run on a compute profile.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("command", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("workdir", sa.String(1024), nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("supervisor_pid", sa.Integer, nullable=True),
        sa.Column("supervisor_started", sa.Float, nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("process_started", sa.Float, nullable=True),
        sa.Column("devices", sa.JSON, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("token_key", sa.String(32), nullable=True),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state", "jobs")
    op.drop_table("jobs")
