"""Device sign-ins: ``atelier login URL`` confirmed in the portal.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_logins",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("user_code_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("client", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_polled_at", UTCDateTime, nullable=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("denied_at", UTCDateTime, nullable=True),
        sa.Column("used_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_logins")
