"""Feature store: entities, feature views and their versions, feature services, saved training
sets and materialization runs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from atelier.backends.metadata.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_entities",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("keys", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "feature_views",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("stats", sa.JSON, nullable=True),
        sa.Column("stats_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "feature_view_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("view", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("view", "version", name="uq_feature_view_versions_view_version"),
    )
    op.create_table(
        "feature_services",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "training_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("view_versions", sa.JSON, nullable=False),
        sa.Column("entities", sa.Text, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_training_sets_name_version"),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("view", sa.String(64), nullable=False),
        sa.Column("view_version", sa.Integer, nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("as_of_ns", sa.BigInteger, nullable=False),
        sa.Column("lake_snapshot", sa.BigInteger, nullable=True),
        sa.Column("entities", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_feature_materializations_view", "feature_materializations", ["view", "id"])


def downgrade() -> None:
    for table in (
        "feature_materializations",
        "training_sets",
        "feature_services",
        "feature_view_versions",
        "feature_views",
        "feature_entities",
    ):
        op.drop_table(table)
