"""Personal-data tags of columns, and tables marked as personal data as a whole.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "column_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("column_name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("suggested_at", UTCDateTime, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("table_name", "column_name", name="uq_column_tags_table_column"),
    )
    op.create_table(
        "personal_tables",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.String(255), nullable=False, unique=True),
        sa.Column("marked_by", sa.String(64), nullable=False),
        sa.Column("marked_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("personal_tables")
    op.drop_table("column_tags")
