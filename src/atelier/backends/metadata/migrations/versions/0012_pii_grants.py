"""Personal data: raw-access grants and the workspace's sealed pseudonym key.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pii_grants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("table_name", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("export", sa.Boolean, nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_pii_grants_user", "pii_grants", ["user_id", "expires_at"])
    op.create_table(
        "pii_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pii_keys")
    op.drop_index("ix_pii_grants_user", table_name="pii_grants")
    op.drop_table("pii_grants")
