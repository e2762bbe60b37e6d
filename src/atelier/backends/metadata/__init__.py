"""Metadata store: SQLAlchemy 2 models on SQLite (default) or PostgreSQL, migrated by Alembic.

Holds users, tokens, sessions, login links and the audit log; later capabilities add their
tables with new migrations under ``migrations/versions``.
"""

from atelier.backends.metadata.database import Database
from atelier.backends.metadata.models import (
    ApiToken,
    AppFeedback,
    AppRecord,
    AppShare,
    AuditEvent,
    Base,
    Dataset,
    FeatureEntity,
    FeatureMaterialization,
    FeatureServiceRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    JobRecord,
    LoginLink,
    ProjectMember,
    ProjectRecord,
    QueryRecord,
    Source,
    SourceCredential,
    TrainingSetRecord,
    User,
    WebSession,
)

__all__ = [
    "ApiToken",
    "AppFeedback",
    "AppRecord",
    "AppShare",
    "AuditEvent",
    "Base",
    "Database",
    "Dataset",
    "FeatureEntity",
    "FeatureMaterialization",
    "FeatureServiceRecord",
    "FeatureViewRecord",
    "FeatureViewVersion",
    "JobRecord",
    "LoginLink",
    "ProjectMember",
    "ProjectRecord",
    "QueryRecord",
    "Source",
    "SourceCredential",
    "TrainingSetRecord",
    "User",
    "WebSession",
]
