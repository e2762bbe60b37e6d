"""The settings schema: one pydantic model per ``atelier.toml`` section, unknown keys refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


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
    #: Where table data (Parquet) lives: empty means ``<workspace>/data/lake``; or an s3:// prefix.
    data_path: str = ""


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


class NotebookSettings(_Section):
    #: A user's JupyterLab is stopped after this many minutes without traffic and with no
    #: kernel busy; 0: never stopped for idleness.
    idle_minutes: int = Field(default=120, ge=0)


class AuthSettings(_Section):
    token_days: int = Field(default=90, ge=1, le=3650)
    login_link_minutes: int = Field(default=15, ge=1, le=1440)


class Settings(_Section):
    """All of Atelier's settings. Sections mirror the TOML tables."""

    server: ServerSettings = ServerSettings()
    metadata: MetadataSettings = MetadataSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    query: QuerySettings = QuerySettings()
    features: FeatureSettings = FeatureSettings()
    compute: ComputeSettings = ComputeSettings()
    auth: AuthSettings = AuthSettings()
    notebooks: NotebookSettings = NotebookSettings()


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
}
