"""Where MLflow keeps a workspace's runs, models and artifacts.

* **Backend store** (experiments, runs, metrics, the model registry): the workspace's metadata
  database. On PostgreSQL it is the same database, in a schema of its own (``mlflow``, chosen
  with the connection option ``search_path``), so MLflow's Alembic tables and Atelier's never
  meet. On SQLite a schema is a separate file anyway, so MLflow gets a sibling file next to
  Atelier's: both projects keep an ``alembic_version`` table, and two migration histories in one
  table would each see the other's revision as unknown and refuse to start.
* **Artifacts**: ``<data dir>/mlflow/artifacts`` on workspace storage, reached only through
  MLflow's artifact proxy (``--serve-artifacts``): runs record ``mlflow-artifacts:/…`` URIs and
  clients never learn or touch the server's paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from atelier.config import Workspace
from atelier.errors import ConfigError

#: The PostgreSQL schema that holds MLflow's tables.
SCHEMA = "mlflow"
#: Default artifact root of new experiments: served by MLflow's artifact proxy.
ARTIFACT_ROOT = "mlflow-artifacts:/"
#: Where Atelier's portal routes MLflow (UI and REST API) on the Atelier server.
URL_PREFIX = "/mlflow"


@dataclass(frozen=True)
class TrackingStore:
    """MLflow's storage for one workspace."""

    metadata_url: str
    data_dir: Path

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> TrackingStore:
        return cls(workspace.metadata_url, workspace.data_dir)

    @property
    def dialect(self) -> str:
        scheme = urlsplit(self.metadata_url).scheme
        return "postgresql" if scheme.startswith("postgresql") else scheme.split("+")[0]

    @property
    def backend_uri(self) -> str:
        """The SQLAlchemy URL MLflow's backend store (tracking and registry) uses."""
        parts = urlsplit(self.metadata_url)
        if self.dialect == "sqlite":
            from sqlalchemy.engine import make_url

            path = Path(make_url(self.metadata_url).database or "atelier.db")
            sibling = path.with_name(f"{path.stem}.mlflow{path.suffix or '.db'}")
            return f"sqlite:///{sibling}"
        if self.dialect == "postgresql":
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
            query.append(("options", f"-csearch_path={SCHEMA}"))
            return urlunsplit(
                parts._replace(scheme="postgresql+psycopg", query=urlencode(query, quote_via=quote))
            )
        raise ConfigError(
            f"metadata.url {self.metadata_url!r}: MLflow can keep runs only in SQLite or PostgreSQL"
        )

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "mlflow" / "artifacts"

    def prepare(self) -> None:
        """Create what MLflow expects to exist: the artifact folder and the PostgreSQL schema."""
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        if self.dialect == "postgresql":
            from sqlalchemy import create_engine, text

            engine = create_engine(self.backend_uri)
            try:
                with engine.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
            finally:
                engine.dispose()


def tracking_uri_for_server(server_url: str) -> str:
    """The ``MLFLOW_TRACKING_URI`` that clients of the Atelier server at ``server_url`` use."""
    return server_url.rstrip("/") + URL_PREFIX
