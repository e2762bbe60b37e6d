"""Source credentials sealed with the workspace key (kept outside this database).

Adds ``source_credentials.sealed``. The key is not reachable from here (a migration sees only
the database, and on a team server the key is an environment variable of the server), so the
clear values already stored stay in ``secrets`` until the workbench opens the database, right
after this upgrade: it seals every row that is not sealed yet and empties ``secrets``
(:func:`atelier.services.catalog.credentials.seal_stored`). Nothing is lost: a row is sealed
and cleared in one transaction, and an unsealed row keeps working until then.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_credentials") as batch:
        batch.add_column(sa.Column("sealed", sa.Text, nullable=True))


def downgrade() -> None:
    # Sealed credentials cannot be opened here: sources added since must be added again.
    with op.batch_alter_table("source_credentials") as batch:
        batch.drop_column("sealed")
