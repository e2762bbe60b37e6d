"""ORM models of the metadata store. Change them only together with a migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    #: NULL for accounts that log in by link only (the single-user owner).
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Public part of the token, used to find it; the secret part is only stored hashed.
    key: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: NULL: a person's token (their full rights); else the space-separated scopes of a token
    #: made for code (an app, a job, a notebook server), see ``services/auth/scopes.py``.
    scopes: Mapped[str | None] = mapped_column(String(255), nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginLink(Base):
    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who acted (a user name), or the name tried for a failed login; NULL when unknown.
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class DeviceLogin(Base):
    """A sign-in started by a device (``atelier login URL`` on a laptop): the device polls with
    its secret device code while a signed-in person confirms the short user code in the portal;
    the device then receives a personal token once. Only digests of both codes are stored."""

    __tablename__ = "device_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_hash: Mapped[str] = mapped_column(String(128), unique=True)
    user_code_hash: Mapped[str] = mapped_column(String(128), unique=True)
    #: What the device calls itself; the token it receives is named after it.
    name: Mapped[str] = mapped_column(String(64))
    #: The address that started it, shown on the confirmation page.
    client: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Set when confirmed (the person the token is for) or denied.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Set when the device received its token: a code is used once.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SignInThrottle(Base):
    """Recent failed sign-ins (or token secrets) of one account, token key or client address,
    and the lock they earned. Kept in the database so that every server process sees it."""

    __tablename__ = "sign_in_throttle"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``account``, ``token`` or ``client``.
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Dataset(Base):
    """What Atelier knows about a warehouse table beyond DuckLake: owner, description, tags."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``schema.table`` in the lake.
    name: Mapped[str] = mapped_column(String(255), unique=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Source(Base):
    """An attached, read-only database or file folder. Its secrets live in another table."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    #: Non-secret connection fields (host, port, database, user, path, ...).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourceCredential(Base):
    """Secret fields of a source (passwords, keys): never listed, echoed or logged.

    ``sealed`` holds them encrypted with the workspace's key (kept outside this database, see
    :mod:`atelier.config.sealing`); ``secrets`` is where they were kept in clear before
    migration 0009, empty once the workbench has sealed them.
    """

    __tablename__ = "source_credentials"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    secrets: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sealed: Mapped[str | None] = mapped_column(Text, nullable=True)


class QueryRecord(Base):
    """One statement run through the query service: the SQL page's history."""

    __tablename__ = "query_history"
    __table_args__ = (Index("ix_query_history_user_started", "user", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(64))
    sql: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``running``, ``ok``, ``error``, ``cancelled`` or ``timeout``.
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class FeatureEntity(Base):
    """An entity of the feature store: what features describe, and its key columns."""

    __tablename__ = "feature_entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(64))
    keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FeatureViewRecord(Base):
    """The current definition of a feature view; every version is kept in
    ``feature_view_versions``. ``stats`` holds per-feature statistics and freshness."""

    __tablename__ = "feature_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    shared: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    stats_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeatureViewVersion(Base):
    """One applied version of a feature view's definition."""

    __tablename__ = "feature_view_versions"
    __table_args__ = (
        UniqueConstraint("view", "version", name="uq_feature_view_versions_view_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    view: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeatureServiceRecord(Base):
    """A named set of features that a model looks up online."""

    __tablename__ = "feature_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(64))
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrainingSetRecord(Base):
    """A training set saved as a warehouse table: which features, from which view versions."""

    __tablename__ = "training_sets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_training_sets_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``schema.table`` in the lake.
    name: Mapped[str] = mapped_column(String(255))
    #: The DuckLake snapshot that wrote it.
    version: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``{view: version}`` of every view used.
    view_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    entities: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeatureMaterialization(Base):
    """One run of ``materialize`` for one view: the online store's high-water marks."""

    __tablename__ = "feature_materializations"
    __table_args__ = (Index("ix_feature_materializations_view", "view", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    view: Mapped[str] = mapped_column(String(64))
    view_version: Mapped[int] = mapped_column(Integer)
    store: Mapped[str] = mapped_column(String(16))
    #: ``full`` or ``incremental``.
    mode: Mapped[str] = mapped_column(String(16))
    #: Aggregations are computed as of this time (nanoseconds since the epoch, UTC).
    as_of_ns: Mapped[int] = mapped_column(BigInteger)
    #: The lake snapshot read (table sources), for the next incremental run.
    lake_snapshot: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    entities: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProjectRecord(Base):
    """A project: a folder under ``<workspace>/projects/`` with its own Python environment."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: The project's folder (absolute).
    path: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )


class ProjectMember(Base):
    """A user's membership of a project: ``owner``, ``editor`` or ``reader``."""

    __tablename__ = "project_members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[ProjectRecord] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class JobRecord(Base):
    """A job: a script, notebook or command run on a compute profile, and how it went."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    #: ``script``, ``notebook`` or ``command``.
    kind: Mapped[str] = mapped_column(String(16))
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    profile: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(String(16))
    #: What runs: the argument vector as the backend starts it.
    command: Mapped[list[str]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The profile's resources when the job was submitted (cpus, memory, gpus, max_runtime).
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled`` or ``timed_out``.
    state: Mapped[str] = mapped_column(String(16))
    #: Why it ended as it did (out of memory, timed out, ...), or why it still waits.
    reason: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    workdir: Mapped[str] = mapped_column(String(1024))
    submitted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The machine whose supervisor process watches the job, its pid and start time.
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    supervisor_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    supervisor_started: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The backend's handle: a process id (local) or a submission id (Ray).
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: Start time of the local process, so that a reused pid is never mistaken for the job.
    process_started: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Devices the local backend gave the job: ``{"cpus": [0, 1], "gpus": [0]}``.
    devices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    token_key: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AppRecord(Base):
    """A published app: generated from a registered model, or hosted (Streamlit, Dash)."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``model`` (generated from a model's signature), ``streamlit`` or ``dash``.
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    #: ``NAME@ALIAS`` (or ``NAME``) of the model a generated app serves.
    model: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: The project whose environment runs a hosted app, and the script it runs.
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    script: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    #: ``running`` or ``paused``.
    status: Mapped[str] = mapped_column(String(16), default="running")
    #: Shared with every logged-in user (else only with the users in ``app_shares``).
    shared_with_all: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AppShare(Base):
    """One user an app is shared with."""

    __tablename__ = "app_shares"
    __table_args__ = (UniqueConstraint("app_id", "user_id", name="uq_app_shares_app_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppFeedback(Base):
    """A user's verdict on one prediction of an app; copied to the warehouse's
    ``feedback.<app>`` table (``shipped`` once it is there)."""

    __tablename__ = "app_feedback"
    __table_args__ = (
        Index("ix_app_feedback_app", "app_id", "id"),
        Index("ix_app_feedback_shipped", "shipped"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    prediction_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    model_version: Mapped[int] = mapped_column(Integer)
    #: ``right`` or ``wrong``.
    verdict: Mapped[str] = mapped_column(String(8))
    correct_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    user: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The prediction as logged: inputs (JSON text), output and its probability.
    inputs: Mapped[str] = mapped_column(Text, default="{}")
    prediction: Mapped[str | None] = mapped_column(Text, nullable=True)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)


class ColumnTag(Base):
    """A column's personal-data tag: suggested by the classifier, confirmed or changed by the
    table's owner or an admin, or removed (kept, so that classifying again does not bring it
    back). ``table_name`` is ``schema.table`` or ``source.schema.table``."""

    __tablename__ = "column_tags"
    __table_args__ = (
        UniqueConstraint("table_name", "column_name", name="uq_column_tags_table_column"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(255))
    column_name: Mapped[str] = mapped_column(String(255))
    #: A :class:`~atelier.services.pii.PiiKind` value.
    kind: Mapped[str] = mapped_column(String(32))
    #: ``suggested``, ``confirmed`` or ``removed``.
    state: Mapped[str] = mapped_column(String(16))
    #: The classifier's confidence (0 to 1); None for a tag people set without a finding.
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The classifier's sentence (it never quotes a value).
    evidence: Mapped[str] = mapped_column(Text, default="")
    suggested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Who confirmed, changed or removed the tag, and when.
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PersonalTable(Base):
    """A table its owner or an admin marked as personal data as a whole."""

    __tablename__ = "personal_tables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(255), unique=True)
    marked_by: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PiiGrant(Base):
    """Raw access to personal data given by an admin: to one user, on one table or on one kind
    of personal data (``kind``), with a reason and an expiry; ``export`` lets the raw values
    leave the server too. Revoked grants are kept (``revoked_at``) for the record."""

    __tablename__ = "pii_grants"
    __table_args__ = (Index("ix_pii_grants_user", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: ``schema.table`` in lower case, or None for a grant on a kind.
    table_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: A ``PiiKind`` value, or None for a grant on a table.
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    export: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PiiKey(Base):
    """The workspace's pseudonym key, sealed with the workspace key (one row)."""

    __tablename__ = "pii_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedQuery(Base):
    """A statement saved from the SQL page under a name by its owner; ``shared`` ones are
    listed to everyone who may use the SQL page (only the owner or an admin changes them)."""

    __tablename__ = "saved_queries"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_saved_queries_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    sql: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- discussion: comments, mentions, activity and webhooks (migration 0014) ----------------


class CommentRecord(Base):
    """A comment on a table, experiment, run, model version or app. Deleted comments keep
    their row (``deleted_at``) so that a thread keeps its shape; their body is emptied."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_subject", "subject_kind", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``table``, ``experiment``, ``run``, ``model`` or ``app``.
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(255))
    #: The project the subject belongs to when the comment was written (its readers' limit).
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CommentMention(Base):
    """A user a comment mentions (``@name``)."""

    __tablename__ = "comment_mentions"
    __table_args__ = (
        UniqueConstraint("comment_id", "user_id", name="uq_comment_mentions_comment_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class ActivityEvent(Base):
    """Something that happened to a subject, for the activity feeds and webhooks: a comment,
    a mention (``recipient_id`` set), a new table version, a registration, an alias move,
    feedback on an app."""

    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_project", "project", "id"),
        Index("ix_activity_events_recipient", "recipient_id", "id"),
        Index("ix_activity_events_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(255))
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Set for an event addressed to one user (a mention, feedback on their app).
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Webhook(Base):
    """A user's webhook: activity they may see is POSTed to its URL, signed with a secret.
    Both are sealed with the workspace key (``sealed_secret``: the server needs them in clear
    to send and sign; a chat service's URL holds its token); ``url`` is what is shown."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: ``https://host/…``: the URL as shown (the whole one is sealed).
    url: Mapped[str] = mapped_column(String(2048))
    sealed_secret: Mapped[str] = mapped_column(Text)
    #: The activity kinds sent; empty: every kind.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event to deliver to one webhook: ``pending``, ``delivered`` or ``failed``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("activity_events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Lease(Base):
    """Who does a piece of background work that must run once (shipping a journal, watching
    a job, a user's notebook server) until when: taken over by another server once it
    expires without renewal."""

    __tablename__ = "leases"

    #: The work, e.g. ``job:12``, ``journal:FOLDER``, ``notebook:alice``, ``server:ID``.
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The holder's id: ``host:pid:random`` of the process doing the work.
    holder: Mapped[str] = mapped_column(String(255))
    #: Where the holder answers (a server's internal address), for the others to say so.
    address: Mapped[str] = mapped_column(String(255), default="")
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
