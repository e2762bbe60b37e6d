"""The settings schema: one pydantic model per ``atelier.toml`` section, unknown keys refused."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from atelier.config.units import parse_duration, parse_size


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def comma_list(value: object) -> object:
    """A list setting given as one string (an environment variable): ``a,b`` is ``[a, b]``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def ip_networks(value: list[str]) -> list[str]:
    """Each entry must be an IP address or network (``10.0.0.0/8``)."""
    import ipaddress

    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return value


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    #: ``single``: one person, login by one-time link; ``team``: users, passwords, tokens.
    mode: Literal["single", "team"] = "single"
    #: The address users reach the portal at (used in printed links); defaults to http://host:port.
    public_url: str = ""
    session_hours: float = Field(default=12.0, gt=0)
    #: Mark cookies Secure (set when the portal is served over HTTPS behind a proxy).
    secure_cookies: bool = False
    #: The largest request body (JSON, forms, predictions); counted while it is read.
    max_body_size: str = "32MB"
    #: The largest body of an upload: files to /api/v1/uploads and the upload page, MLflow
    #: artifacts, notebook files and the files hosted apps receive.
    max_upload_size: str = "10GB"
    #: Several servers on one workspace: how long background work (a job's supervision, a
    #: journal, a notebook server) stays with a server that stopped renewing it.
    lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    #: This server's address as the other servers and the reverse proxy reach it (the others
    #: pass it the requests for what it holds, e.g. a JupyterLab it runs); empty:
    #: http://host:port.
    internal_url: str = ""

    @field_validator("max_body_size", "max_upload_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if parse_size(value) <= 0:
            raise ValueError("must be more than 0 bytes")
        return value

    @field_validator("public_url", "internal_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    # Hosted apps (user-authored web content) are served from another origin than the
    # portal's, so that their JavaScript cannot act as their visitor in the portal.
    #: The port of the apps listener; 0: the portal's port + 1.
    apps_port: int = Field(default=0, ge=0, le=65535)
    #: The address users reach the apps listener at; defaults to http://host:apps_port.
    apps_url: str = ""
    #: One origin per app: ``NAME.<apps_domain>`` (a wildcard DNS name, e.g. apps.example.com,
    #: that reaches the apps listener); empty: every app under apps_url.
    apps_domain: str = ""

    @field_validator("apps_url")
    @classmethod
    def _apps_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("apps_domain")
    @classmethod
    def _apps_domain(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("*.").rstrip(".")
        if value and not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?", value):
            raise ValueError("must be a DNS name such as apps.example.com (a port may follow)")
        return value


class MetadataSettings(_Section):
    #: SQLAlchemy URL; empty means ``sqlite:///<workspace>/atelier.db``.
    url: str = ""

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value


class WarehouseSettings(_Section):
    #: DuckLake catalog: empty means a SQLite file in the workspace; or a postgresql:// URL.
    catalog_url: str = ""
    #: Where table data (Parquet) lives: empty means ``<workspace>/data/lake``, or
    #: ``s3://<bucket>/<prefix>/lake`` when ``[storage]`` names a bucket; or an s3:// URL
    #: (reached with the ``[storage]`` endpoint and credentials).
    data_path: str = ""

    @field_validator("data_path")
    @classmethod
    def _data_path(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme and scheme != "s3":
            raise ValueError("must be a local folder or an s3://bucket/prefix URL")
        if scheme and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^/]+)*/?", value):
            raise ValueError("must be s3://bucket/prefix, with no empty parts")
        return value.rstrip("/") if scheme else value


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9._=-]+")


class StorageSettings(_Section):
    """``[storage]``: the S3 (or S3-compatible) bucket that holds what is data: the lake's
    Parquet files, MLflow's artifacts, and the workspace's own files that are data (uploads
    kept for later, ended jobs' files, hosted apps' folders, built images' contexts; see
    :mod:`atelier.services.storage`). Empty ``bucket``: everything stays on local disk."""

    #: The bucket; empty: no object storage.
    bucket: str = ""
    #: A folder inside the bucket for this workspace (``teams/ml``); the lake goes under
    #: ``<prefix>/lake``, MLflow artifacts under ``<prefix>/mlflow``, the workspace's own
    #: files under ``<prefix>/uploads``, ``jobs``, ``apps`` and ``images``.
    prefix: str = ""
    #: The S3 API address of an S3-compatible store (``http://minio:9000``); empty: AWS.
    endpoint: str = ""
    region: str = "us-east-1"
    #: ``vhost`` (AWS: ``bucket.host``) or ``path`` (``host/bucket``: MinIO, Ceph, most others).
    url_style: Literal["vhost", "path"] = "vhost"
    #: Credentials: leave these out of atelier.toml and set ATELIER_STORAGE_ACCESS_KEY_ID and
    #: ATELIER_STORAGE_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are used.
    #: Never shown: not in a repr, not in ``atelier config`` (excluded from dumps).
    access_key_id: str = Field(default="", repr=False, exclude=True)
    secret_access_key: str = Field(default="", repr=False, exclude=True)
    #: A temporary credential's session token (ATELIER_STORAGE_SESSION_TOKEN/AWS_SESSION_TOKEN).
    session_token: str = Field(default="", repr=False, exclude=True)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value and (not _BUCKET.fullmatch(value) or ".." in value):
            raise ValueError(
                "must be a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        for part in value.split("/") if value else []:
            if part in {".", ".."} or not _PREFIX_PART.fullmatch(part):
                raise ValueError(
                    f"{value!r} is not a folder path (letters, digits, . _ = - and /, "
                    "no empty, . or .. parts)"
                )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
            raise ValueError("must be http://host[:port] or https://host[:port], with no path")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9-]{1,32}", value):
            raise ValueError("must be a region name such as us-east-1")
        return value

    @model_validator(mode="after")
    def _complete(self) -> StorageSettings:
        if not self.bucket and (self.endpoint or self.prefix):
            raise ValueError("storage.bucket: name the bucket that endpoint and prefix are for")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError(
                "storage: set both access_key_id and secret_access_key, or neither "
                "(then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used)"
            )
        return self


class QuerySettings(_Section):
    #: A user statement running longer than this is interrupted.
    timeout_seconds: float = Field(default=300.0, gt=0)
    #: DuckDB memory limit per user query connection (spills to disk beyond it).
    memory_limit: str = "4GB"
    #: Rows the portal's SQL page shows (the API and SDK return everything).
    page_rows: int = Field(default=1000, ge=1, le=100_000)


class FeatureSettings(_Section):
    #: Where materialized features are served from: a SQLite file in the workspace, or Redis.
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"


class ComputeSettings(_Section):
    backend: Literal["local", "ray"] = "local"
    ray_address: str = ""
    #: The profile of jobs started without ``--profile``.
    default_profile: str = "small"
    #: Cores the local backend hands out; 0: every core this process may use.
    local_cpus: int = Field(default=0, ge=0)
    #: Memory the local backend hands out; empty: the machine's physical memory.
    local_memory: str = ""
    #: GPUs the local backend hands out; -1: as many as ``nvidia-smi -L`` lists.
    local_gpus: int = Field(default=-1, ge=-1)
    #: A Ray job pending longer than this gets a note that the cluster cannot place it yet.
    ray_pending_seconds: float = Field(default=60.0, gt=0)
    #: The largest working tree a job may bring, unpacked (``atelier run`` from a checkout);
    #: at most 512MiB, the most any tree archive holds.
    max_tree_size: str = "512MiB"

    @field_validator("local_memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if value:
            parse_size(value)
        return value

    @field_validator("max_tree_size")
    @classmethod
    def _tree_size(cls, value: str) -> str:
        if parse_size(value) <= 0:
            raise ValueError("must be more than 0 bytes")
        return value


PROFILE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ProfileSettings(_Section):
    """One compute profile, ``[profiles.NAME]``: what a job gets and how long it may run."""

    cpus: float = Field(default=1.0, gt=0)
    #: Memory limit of the job (its whole process tree): "2GB", "512MiB", ...
    memory: str = "2GB"
    gpus: int = Field(default=0, ge=0)
    #: A job running longer is stopped and marked timed out: "30m", "2h", "1d"; "0": no limit.
    max_runtime: str = "24h"
    #: Empty: the ``[compute]`` backend; ``local`` or ``ray`` pins the profile to one.
    backend: Literal["", "local", "ray"] = ""
    description: str = ""

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if parse_size(value) <= 0:
            raise ValueError("must be more than 0 bytes")
        return value

    @field_validator("max_runtime", mode="before")
    @classmethod
    def _runtime(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            parse_duration(value)
        return value

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @property
    def max_runtime_seconds(self) -> float | None:
        """None when the profile has no limit."""
        return parse_duration(self.max_runtime) or None


#: The profiles every workspace has; ``[profiles.NAME]`` tables change or add to them.
DEFAULT_PROFILES: dict[str, dict[str, Any]] = {
    "small": {"cpus": 1, "memory": "2GB", "max_runtime": "2h", "description": "try something"},
    "large": {"cpus": 4, "memory": "16GB", "max_runtime": "24h", "description": "a real run"},
    "gpu": {
        "cpus": 4,
        "memory": "16GB",
        "gpus": 1,
        "max_runtime": "24h",
        "description": "deep learning on one GPU",
    },
}


def _profiles_with_defaults(value: object) -> object:
    if not isinstance(value, dict):
        return value
    merged: dict[str, Any] = {name: dict(table) for name, table in DEFAULT_PROFILES.items()}
    for name, table in value.items():
        if not isinstance(name, str) or not PROFILE_NAME.match(name):
            raise ValueError(
                f"profile name {name!r}: use lower-case letters, digits, - and _ "
                "(starting with a letter, at most 32)"
            )
        if isinstance(table, dict) and name in merged:
            merged[name].update(table)
        elif isinstance(table, ProfileSettings):
            merged[name] = table.model_dump()
        else:
            merged[name] = table
    return merged


class ProjectSettings(_Section):
    #: Folders on the server below which local git repositories may be cloned into new
    #: projects (``atelier projects create --from /srv/git/x.git``); empty: none, only
    #: https://, ssh:// and git:// URLs.
    clone_roots: list[str] = Field(default_factory=list)

    # ATELIER_PROJECTS_CLONE_ROOTS=/srv/git,/data/repos
    _roots = field_validator("clone_roots", mode="before")(comma_list)

    @field_validator("clone_roots")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for root in value:
            if not root.startswith(("/", "~")):
                raise ValueError(f"{root!r} must be an absolute folder")
        return value


class NotebookSettings(_Section):
    #: A user's JupyterLab is stopped after this many minutes without traffic and with no
    #: kernel busy; 0: never stopped for idleness.
    idle_minutes: int = Field(default=120, ge=0)


class TrackingSettings(_Section):
    #: Start the MLflow server with ``atelier up`` (true) or on the first ``/mlflow`` request.
    start_on_up: bool = True
    #: Aliases that only a model's owner or an admin may move or delete, like the aliases an
    #: app serves (production endpoints call ``/api/v1/models/NAME/predict?alias=...``).
    protected_aliases: list[str] = Field(default_factory=lambda: ["champion"])


class ContainerSettings(_Section):
    """``atelier models build``: images of registered models."""

    #: ``auto`` (the first of podman, docker, buildah found), or one of them by name.
    engine: Literal["auto", "podman", "docker", "buildah"] = "auto"
    #: The image builds start from: a Python 3 with ``venv`` (``python:3.11-slim`` where a
    #: registry is reachable). The default, ``localhost/atelier-python:bookworm``, is made from
    #: Debian packages by ``atelier models base-image`` (mmdebstrap), with no registry at all.
    base_image: str = "localhost/atelier-python:bookworm"
    #: The OCI runtime the engine is told to use (``runc``, ``crun``); empty: its default.
    oci_runtime: str = ""
    #: ``--ulimit`` values given to builds and containers (``nofile=1024:1024``): hosts that
    #: refuse to raise limits need explicit ones.
    ulimits: list[str] = Field(default_factory=list)
    #: Moving a ``production`` alias needs a passing container test of that version.
    require_test_for_production: bool = False

    # ATELIER_CONTAINERS_ULIMITS=nofile=1024:1024,nproc=1000:1000
    _ulimit_list = field_validator("ulimits", mode="before")(comma_list)

    @field_validator("ulimits")
    @classmethod
    def _ulimits(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(r"[a-z_]+=-?\d+(:-?\d+)?", item):
                raise ValueError(f"{item!r} is not a ulimit like nofile=1024:1024")
        return value

    @field_validator("oci_runtime")
    @classmethod
    def _runtime(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_./-]+", value):
            raise ValueError(f"{value!r} is not an OCI runtime name (runc, crun)")
        return value


class AuthSettings(_Section):
    token_days: int = Field(default=90, ge=1, le=3650)
    login_link_minutes: int = Field(default=15, ge=1, le=1440)
    #: Failed sign-ins (or token secrets) of one account or token that cost nothing; each
    #: further one locks it for twice as long as the last (2 s, 4 s, ...) up to max_lock_minutes.
    free_attempts: int = Field(default=5, ge=1, le=1000)
    #: The same for one client address (many people may share one, behind a NAT).
    client_free_attempts: int = Field(default=20, ge=1, le=10000)
    max_lock_minutes: int = Field(default=15, ge=1, le=1440)
    #: Addresses (or networks, e.g. 10.0.0.0/8) of reverse proxies whose X-Forwarded-For is
    #: believed; otherwise a request's client is the address that connected.
    trusted_proxies: list[str] = Field(default_factory=list)
    #: argon2 parameters for new password hashes: "standard" (argon2's recommended ones) or
    #: "minimal" (the cheapest, for test suites only: such hashes are quick to brute-force).
    #: A hash made with other parameters is redone on the next sign-in.
    password_hash_cost: Literal["standard", "minimal"] = "standard"

    # ATELIER_AUTH_TRUSTED_PROXIES=10.0.0.1,10.0.0.2
    _proxy_list = field_validator("trusted_proxies", mode="before")(comma_list)
    _networks = field_validator("trusted_proxies")(ip_networks)


class PiiSettings(_Section):
    #: ``[pii.rules]``: the masking rule of a kind of personal data, overriding its default
    #: (``email = "redact"``, ``phone = "partial:4"``); see docs/personal-data.md.
    rules: dict[str, str] = Field(default_factory=dict)
    #: The longest raw-access grant an admin may give, in days.
    max_grant_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("rules")
    @classmethod
    def _rule_specs(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, spec in value.items():
            if not re.fullmatch(r"(redact|null|pseudonym|generali[sz]e|partial(:\d{1,2})?)", spec):
                raise ValueError(
                    f"rules.{kind}: {spec!r} is not a rule (redact, null, pseudonym, "
                    "generalise, partial or partial:N)"
                )
        return value


class NotificationSettings(_Section):
    """``[notifications]``: webhooks that tell people of activity (see docs/collaboration.md)."""

    #: Networks webhooks may reach besides the public internet (``10.1.0.0/16``,
    #: ``127.0.0.1/32``). Empty: loopback, private, link-local and other internal addresses
    #: are refused, so that a webhook cannot reach the server's own internal services.
    webhook_networks: list[str] = Field(default_factory=list)
    #: Tries of one delivery before it is marked failed (waits double between tries).
    webhook_attempts: int = Field(default=5, ge=1, le=20)
    #: Seconds a receiver has to answer one delivery.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # ATELIER_NOTIFICATIONS_WEBHOOK_NETWORKS=127.0.0.1/32,10.0.0.0/8
    _network_list = field_validator("webhook_networks", mode="before")(comma_list)
    _webhook_networks = field_validator("webhook_networks")(ip_networks)


class Settings(_Section):
    """All of Atelier's settings. Sections mirror the TOML tables."""

    server: ServerSettings = ServerSettings()
    metadata: MetadataSettings = MetadataSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    storage: StorageSettings = StorageSettings()
    query: QuerySettings = QuerySettings()
    features: FeatureSettings = FeatureSettings()
    compute: ComputeSettings = ComputeSettings()
    auth: AuthSettings = AuthSettings()
    projects: ProjectSettings = ProjectSettings()
    notebooks: NotebookSettings = NotebookSettings()
    tracking: TrackingSettings = TrackingSettings()
    pii: PiiSettings = PiiSettings()
    containers: ContainerSettings = ContainerSettings()
    notifications: NotificationSettings = NotificationSettings()
    #: ``[profiles.NAME]`` tables; the defaults (small, large, gpu) are always there.
    profiles: dict[str, ProfileSettings] = Field(
        default_factory=lambda: {
            name: ProfileSettings(**table) for name, table in DEFAULT_PROFILES.items()
        }
    )

    @field_validator("profiles", mode="before")
    @classmethod
    def _defaults(cls, value: object) -> object:
        return _profiles_with_defaults(value)

    @model_validator(mode="after")
    def _storage_for_s3(self) -> Settings:
        if self.warehouse.data_path.startswith("s3://") and not self.storage.bucket:
            raise ValueError(
                "warehouse.data_path is an s3:// URL: configure [storage] (bucket, endpoint, "
                "credentials) to reach it"
            )
        return self

    @model_validator(mode="after")
    def _default_profile(self) -> Settings:
        if self.compute.default_profile not in self.profiles:
            raise ValueError(
                f"compute.default_profile: no profile {self.compute.default_profile!r} "
                f"(have {', '.join(sorted(self.profiles))})"
            )
        return self


def _section_model(annotation: Any) -> type[_Section]:
    # ``[profiles.NAME]`` is a table of tables: its keys are those of one profile.
    args = get_args(annotation)
    model: type[_Section] = args[-1] if args else annotation
    return model


SECTIONS: dict[str, type[_Section]] = {
    name: _section_model(field.annotation) for name, field in Settings.model_fields.items()
}
