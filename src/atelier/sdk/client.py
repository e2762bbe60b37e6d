"""The interface both clients implement; one test suite runs against both.

Data comes back as pandas by default; ``format="polars"`` or ``format="arrow"`` on request.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from atelier.errors import InvalidInput
from atelier.sdk.shapes import Format, convert, shaped

if TYPE_CHECKING:
    import pyarrow

    from atelier.sdk.accounts import Accounts
    from atelier.sdk.apps import Apps
    from atelier.sdk.discussion import Discussion
    from atelier.sdk.features import Features
    from atelier.sdk.jobs import Jobs
    from atelier.sdk.models import Models
    from atelier.sdk.pii import Pii
    from atelier.sdk.pii_grants import PiiGrants
    from atelier.sdk.projects import Projects
    from atelier.sdk.saved_queries import SavedQueries

Mode = Literal["create", "replace", "append"]
#: Called during an upload as ``progress(stage, percent)``: ``sending`` (remote: the share of
#: the file sent), ``preparing``, ``reading`` (the share read), ``committing``, ``loading``
#: (remote: the server reads what it received); ``percent`` is None when unknown.
Progress = Callable[[str, float | None], None]


class Client(ABC):
    """A connection to an Atelier workspace."""

    @abstractmethod
    def whoami(self) -> dict[str, Any]:
        """The user this client acts as: ``{"name", "role", "via"}``."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the client is unusable afterwards."""

    # -- data ---------------------------------------------------------------------------

    @abstractmethod
    def _sql_arrow(self, query: str, timeout: float | None) -> pyarrow.Table: ...

    @abstractmethod
    def sql_batches(
        self, query: str, *, timeout: float | None = None
    ) -> AbstractContextManager[pyarrow.RecordBatchReader]:
        """Run one SQL statement and read its rows batch by batch, as they come (``with
        ws.sql_batches(q) as reader: for batch in reader: ...``): a result larger than memory
        can be written out as it arrives."""

    def sql_download(
        self,
        query: str,
        path: str | Path,
        *,
        format: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one SQL statement and write its whole result to ``path`` as CSV or Parquet
        (``format``, else from the suffix: ``.csv``, ``.parquet``/``.pq``), as it comes. The
        file appears only once complete; an error leaves nothing behind. Returns ``{"path",
        "format", "query_id", "rows", "size_bytes"}``.

        The download is audited (``sql.download``). From a remote client the file leaves the
        server: personal data in it is masked unless you hold an export grant."""
        from atelier.contract.data import SqlDownload

        target = Path(path)
        fmt = download_format(target, format)
        with partial_file(target) as sink:
            query_id, rows = self._download(query, fmt, sink, timeout)
            size = sink.tell()
        found = {
            "path": str(target),
            "format": fmt,
            "query_id": query_id,
            "rows": rows,
            "size_bytes": size,
        }
        written: dict[str, Any] = shaped(SqlDownload, found)
        return written

    @abstractmethod
    def _download(
        self, query: str, fmt: str, sink: IO[bytes], timeout: float | None
    ) -> tuple[int, int | None]:
        """Write the ``fmt`` file of ``query``'s result to ``sink``; its query id and rows."""

    def sql(self, query: str, *, format: Format = "pandas", timeout: float | None = None) -> Any:
        """Run one SQL statement on the workspace (warehouse tables, attached sources)."""
        from atelier.services.tracking.capture import note_read

        table = self._sql_arrow(query, timeout)
        # Runs record the table versions they read (a no-op unless run capture is on).
        note_read(query, self._lake_version)
        return convert(table, format)

    def _lake_version(self) -> int | None:
        """The warehouse's current snapshot id (what an unpinned read sees now)."""
        found = self._sql_arrow(
            "SELECT max(snapshot_id) AS v FROM ducklake_snapshots('lake')", None
        )
        value = found.column(0)[0].as_py() if found.num_rows else None
        return None if value is None else int(value)

    def table(self, name: str, *, version: int | None = None, format: Format = "pandas") -> Any:
        """A warehouse table's rows, as it is now or at snapshot ``version``."""
        from atelier.backends.warehouse.sql import qualified

        at = "" if version is None else f" AT (VERSION => {int(version)})"
        return self.sql(f"SELECT * FROM {qualified(*name.split('.'))}{at}", format=format)

    @abstractmethod
    def tables(self, search: str | None = None) -> list[dict[str, Any]]:
        """The catalog: warehouse tables and source tables, optionally searched."""

    @abstractmethod
    def describe(self, name: str) -> dict[str, Any]:
        """One table: columns, rows, size, owner, description, tags, versions, sample."""

    @abstractmethod
    def profile(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        """Per-column statistics, top values and histograms of a table."""

    @abstractmethod
    def update_table(
        self, name: str, *, description: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any]:
        """Set a table's description and/or tags (the whole list); returns its catalog entry."""

    def upload(
        self,
        data: Any,
        name: str,
        *,
        mode: Mode = "create",
        options: dict[str, Any] | None = None,
        progress: Progress | None = None,
        schema: str | None = None,
    ) -> dict[str, Any]:
        """Write a file (CSV, TSV, Parquet, JSON, Excel) or a pandas/polars/Arrow table into
        the warehouse table ``name`` (``table`` or ``schema.table``; ``schema`` chooses the
        schema of a bare name: ``main``, your ``user_<name>``, a project's); returns
        ``{"table", "version", "rows", ...}``. The remote client streams a file to the
        server (never whole in memory); ``progress`` follows it (see :data:`Progress`)."""
        if isinstance(data, str | Path):
            path = Path(data).expanduser()
            if not path.is_file():
                raise InvalidInput(f"{path}: no such file")
            return self._upload_file(path, name, mode, options or {}, progress, schema)
        return self._upload_arrow(to_arrow(data), name, mode, schema)

    @abstractmethod
    def _upload_file(
        self,
        path: Path,
        name: str,
        mode: Mode,
        options: dict[str, Any],
        progress: Progress | None = None,
        schema: str | None = None,
    ) -> dict[str, Any]: ...

    @abstractmethod
    def _upload_arrow(
        self, table: pyarrow.Table, name: str, mode: Mode, schema: str | None = None
    ) -> dict[str, Any]: ...

    @abstractmethod
    def sources(self) -> list[dict[str, Any]]:
        """Attached sources (never their secrets)."""

    @abstractmethod
    def source(self, name: str) -> dict[str, Any]:
        """One attached source (never its secrets)."""

    @abstractmethod
    def source_tables(self, name: str) -> list[dict[str, Any]]:
        """Connect to source ``name`` and list its tables (an error says why it cannot)."""

    @abstractmethod
    def add_source(
        self,
        name: str,
        type: str,
        *,
        options: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Attach a read-only source (admins): ``type`` postgres, mysql, sqlite, parquet, csv
        or s3; ``secrets`` (password, key_id, secret) are stored sealed and never returned.
        The connection is tested first: nothing is saved when it fails."""

    @abstractmethod
    def remove_source(self, name: str) -> None:
        """Detach source ``name`` (admins); its data is not touched."""

    @property
    @abstractmethod
    def features(self) -> Features:
        """The feature store: ``ws.features.training_set(...)``, ``.online(...)``, ``.views()``
        (see :mod:`atelier.sdk.features`)."""

    @property
    @abstractmethod
    def models(self) -> Models:
        """The model registry: ``ws.models.register(run_id, name)``, ``.set_alias(...)``,
        ``.load("NAME@champion")``, ``.list()``, ``.card(name)`` (see :mod:`atelier.sdk.models`)."""

    @property
    @abstractmethod
    def pii(self) -> Pii:
        """Personal-data tags of columns: ``ws.pii.get(table)``, ``.confirm(table, column,
        kind)``, ``.remove(table, column)``, ``.classify(table)``, ``.mark(table)`` (see
        :mod:`atelier.sdk.pii`)."""

    @property
    @abstractmethod
    def accounts(self) -> Accounts:
        """Users, tokens and the audit log: ``ws.accounts.users()``, ``.create_token(name)``,
        ``.tokens()``, ``.revoke_token(key)``, ``.audit()`` (see :mod:`atelier.sdk.accounts`)."""

    @property
    @abstractmethod
    def saved_queries(self) -> SavedQueries:
        """The SQL page's saved queries, yours and the shared ones: ``ws.saved_queries.list()``,
        ``.create(name, sql, shared=True)``, ``.get(id)``, ``.update(id, sql=...)``,
        ``.delete(id)`` (see :mod:`atelier.sdk.saved_queries`)."""

    @property
    @abstractmethod
    def pii_grants(self) -> PiiGrants:
        """Raw-access grants to personal data and the masking rules: ``ws.pii_grants.list()``,
        ``.add(user, table=..., reason=..., days=...)``, ``.revoke(id)``, ``.rules()`` (see
        :mod:`atelier.sdk.pii_grants`)."""

    @property
    @abstractmethod
    def apps(self) -> Apps:
        """Apps: ``ws.apps.create(name, "MODEL@champion")``, ``.deploy(name, "folder")``,
        ``.share(...)``, ``.predict(...)``, ``.list()`` (see :mod:`atelier.sdk.apps`)."""

    # -- discussion -----------------------------------------------------------------------

    @property
    def discussion(self) -> Discussion:
        """Comments, activity and webhooks (see :mod:`atelier.sdk.discussion`)."""
        from atelier.sdk.discussion import for_client

        return for_client(self)

    def comment(self, kind: str, subject_id: str, body: str) -> dict[str, Any]:
        """Comment on a ``table``, ``experiment``, ``run``, ``model`` (``NAME`` or
        ``NAME/VERSION``) or ``app``; ``@name`` mentions someone, ``run:ID``,
        ``table:SCHEMA.TABLE@VERSION`` and ``model:NAME/VERSION`` become links."""
        return self.discussion.post(kind, subject_id, body)

    def comments(self, kind: str, subject_id: str) -> list[dict[str, Any]]:
        """The comments on a subject, oldest first."""
        return self.discussion.thread(kind, subject_id)

    def activity(self, project: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        """My activity feed, newest first; with ``project``, that project's."""
        return self.discussion.activity(project, limit=limit)

    # -- jobs -----------------------------------------------------------------------------

    @property
    @abstractmethod
    def jobs(self) -> Jobs:
        """Jobs and compute profiles: ``ws.jobs.list()``, ``.get(id)``, ``.follow(id)``,
        ``.cancel(id)``, ``.profiles()`` (see :mod:`atelier.sdk.jobs`)."""

    def run(
        self,
        target: str | list[str],
        *,
        project: str | None = None,
        profile: str | None = None,
        params: dict[str, Any] | None = None,
        wait: bool = False,
        tree: str | Path | None = None,
    ) -> dict[str, Any]:
        """Run a script (``"train.py"``), a notebook (``"report.ipynb"``) or a command
        (``["python", "-m", "pkg"]``) as a job on a compute profile, in a project's
        environment; with ``wait``, return once it has ended. ``tree``: a folder (a checkout
        of the project) whose files travel with the job, which runs in its own copy of them
        (see :meth:`atelier.sdk.jobs.Jobs.submit`)."""
        argv = [target] if isinstance(target, str) else list(target)
        job = self.jobs.submit(argv, project=project, profile=profile, params=params, tree=tree)
        return self.jobs.wait(int(job["id"])) if wait else job

    # -- projects and their environments ------------------------------------------------

    @property
    @abstractmethod
    def projects(self) -> Projects:
        """Projects: ``ws.projects()`` lists them; ``.get(name)``, ``.create(...)``,
        ``.add_member(...)``, ``.pull(name)``, ``.push(folder)`` (see
        :mod:`atelier.sdk.projects`)."""

    def create_project(self, name: str, description: str = "") -> dict[str, Any]:
        """Create a project (folder, ``pyproject.toml``, ``uv.lock`` and environment); you
        become its owner."""
        return self.projects.create(name, description)

    def env_add(self, *packages: str, project: str | None = None) -> dict[str, Any]:
        """Install packages (``"lightgbm"``, ``"six==1.17.0"``) into a project's environment
        and lock them; ``project`` defaults to ``ATELIER_PROJECT`` (set in kernels and jobs).
        Returns the environment as :meth:`env_show` does."""
        return self.projects.env_change(project_name(project), "add", list(packages))

    def env_remove(self, *packages: str, project: str | None = None) -> dict[str, Any]:
        """Uninstall packages from a project's environment and drop them from its lock."""
        return self.projects.env_change(project_name(project), "remove", list(packages))

    def env_show(self, project: str | None = None) -> dict[str, Any]:
        """A project's environment: ``requirements`` as declared, ``packages`` as locked
        (``name``, exact ``version``, ``direct``)."""
        return self.projects.env_show(project_name(project))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def project_name(project: str | None) -> str:
    """The project named, else ``ATELIER_PROJECT``; a clear error when neither is set."""
    import os

    name = project or os.environ.get("ATELIER_PROJECT")
    if not name:
        raise InvalidInput(
            "which project? pass project=NAME or set ATELIER_PROJECT (kernels and jobs of a "
            "project have it set)"
        )
    return name


def to_arrow(data: Any) -> pyarrow.Table:
    """pandas, polars or Arrow data as an Arrow table."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        table: pa.Table = data.to_arrow()
        return table
    raise InvalidInput(
        f"cannot upload a {type(data).__name__}: give a file path, or a pandas, polars or "
        "Arrow table"
    )


#: File suffixes and the download format they stand for.
DOWNLOAD_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def download_format(path: Path, format: str | None) -> str:
    """``format`` checked, or the format ``path``'s suffix names."""
    from atelier.contract import DOWNLOAD_FORMATS

    if format is None:
        found = DOWNLOAD_SUFFIXES.get(path.suffix.lower())
        if found is None:
            raise InvalidInput(
                f"cannot tell the format of {path.name} from its suffix: name it .csv or "
                ".parquet, or give format='csv' or 'parquet'"
            )
        return found
    if format not in DOWNLOAD_FORMATS:
        raise InvalidInput(
            f"unknown download format {format!r}: choose {' or '.join(sorted(DOWNLOAD_FORMATS))}"
        )
    return format


@contextmanager
def partial_file(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``path``, renamed to it once the block ends without error
    (removed otherwise), so that ``path`` is never a partial result."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder: name a file to write the result to")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: its folder {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with partial.open("wb") as sink:
            yield sink
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
