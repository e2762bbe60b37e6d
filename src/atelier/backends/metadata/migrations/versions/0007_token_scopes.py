"""Token scopes: tokens made for apps, jobs and notebooks carry what they may do.

``scopes`` is NULL for a person's own token (full rights of its user, as before: existing
tokens keep working) and a space-separated list of scopes for a token made for code.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scopes", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scopes")
