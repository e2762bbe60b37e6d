"""Apps: generated and hosted apps, who they are shared with, and their users' feedback.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("script", sa.String(1024), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shared_with_all", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "app_shares",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "app_id", sa.Integer, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("app_id", "user_id", name="uq_app_shares_app_user"),
    )
    op.create_table(
        "app_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "app_id", sa.Integer, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("prediction_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("correct_value", sa.Text, nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("prediction", sa.Text, nullable=True),
        sa.Column("probability", sa.Float, nullable=True),
        sa.Column("shipped", sa.Boolean, nullable=False),
    )
    op.create_index("ix_app_feedback_app", "app_feedback", ["app_id", "id"])
    op.create_index("ix_app_feedback_shipped", "app_feedback", ["shipped"])


def downgrade() -> None:
    op.drop_index("ix_app_feedback_shipped", table_name="app_feedback")
    op.drop_index("ix_app_feedback_app", table_name="app_feedback")
    op.drop_table("app_feedback")
    op.drop_table("app_shares")
    op.drop_table("apps")
