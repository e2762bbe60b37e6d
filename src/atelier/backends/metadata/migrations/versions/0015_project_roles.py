"""Project roles: owner, editor and reader (``member`` was an editor).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE project_members SET role = 'editor' WHERE role = 'member'")


def downgrade() -> None:
    # Earlier versions know no readers: they lose their membership rather than gain rights.
    op.execute("DELETE FROM project_members WHERE role = 'reader'")
    op.execute("UPDATE project_members SET role = 'member' WHERE role = 'editor'")
