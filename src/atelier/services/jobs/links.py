"""A job's links to the running Atelier server and to MLflow behind it (``/mlflow``).

The MLflow run of a job is made through the server with the job's own token, over MLflow's
REST API (no MLflow import: submitting stays fast). When no server answers (embedded use
without ``atelier up``) the job still runs; the link is skipped and a note says so.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

#: A server on this machine answers in milliseconds; a missing one refuses at once.
PROBE_SECONDS = 2.0
#: The first call may wait for the server to start MLflow.
TIMEOUT = 90.0


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One HTTP client per process, kept: making one loads the system's certificates (about
    0.3 s), which a server submitting jobs would otherwise pay on every job."""
    global _client
    with _client_lock:
        if _client is None:
            import httpx

            _client = httpx.Client(timeout=TIMEOUT)
        return _client


#: How long a server that answered is taken to be up without asking again.
UP_SECONDS = 10.0
#: Until when each server is taken to be up; each experiment's id, by MLflow address and name.
_up_until: dict[str, float] = {}
_experiments: dict[tuple[str, str], str] = {}


def server_up(url: str) -> bool:
    """Whether the Atelier server answers at ``url``: nothing listening is known without
    loading the HTTP client (a job without a server starts sooner)."""
    if time.monotonic() < _up_until.get(url, 0.0):
        return True
    if not _listening(url):
        return False
    import httpx

    try:
        up = _http().get(f"{url}/health", timeout=PROBE_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False
    if up:
        _up_until[url] = time.monotonic() + UP_SECONDS
    return up


def _listening(url: str) -> bool:
    """False when nothing accepts connections at ``url``'s host and port (True when unsure:
    the HTTP probe decides)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname
    except ValueError:
        return True
    if not host:
        return True
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


class MlflowLink:
    """MLflow's REST API at ``<atelier url>/mlflow``, as the job's token."""

    def __init__(self, url: str, token: str) -> None:
        self.base = f"{url}/mlflow/api/2.0/mlflow"
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        response = _http().request(
            method, f"{self.base}/{endpoint}", headers=self.headers, **kwargs
        )
        if response.status_code >= 400:
            raise LinkFailed(f"MLflow {endpoint}: {response.status_code} {response.text[:200]}")
        return response.json()

    def experiment_id(self, name: str) -> str:
        try:
            found = self._call("GET", "experiments/get-by-name", params={"experiment_name": name})
            return str(found["experiment"]["experiment_id"])
        except LinkFailed as exc:
            if "RESOURCE_DOES_NOT_EXIST" not in str(exc):
                raise
        created = self._call("POST", "experiments/create", json={"name": name})
        return str(created["experiment_id"])

    def create_run(self, experiment: str, run_name: str, tags: dict[str, str]) -> str:
        """A new run in ``experiment`` (its id as found for an earlier job, else asked for;
        MLflow checks the job's right to it either way)."""
        key = (self.base, experiment)
        known = _experiments.get(key)
        body = {
            "experiment_id": known or self.experiment_id(experiment),
            "run_name": run_name,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        try:
            run = self._call("POST", "runs/create", json=body)
        except LinkFailed:
            if known is None:
                raise
            _experiments.pop(key, None)  # deleted or renamed since: asked for again
            body["experiment_id"] = self.experiment_id(experiment)
            run = self._call("POST", "runs/create", json=body)
        _experiments[key] = str(body["experiment_id"])
        return str(run["run"]["info"]["run_id"])

    def end_run(self, run_id: str, state: str) -> None:
        """Close the run as the job ended, unless the job's script already closed it."""
        run = self._call("GET", "runs/get", params={"run_id": run_id})
        if run["run"]["info"].get("status") != "RUNNING":
            return
        status = {"succeeded": "FINISHED", "cancelled": "KILLED"}.get(state, "FAILED")
        self._call(
            "POST",
            "runs/update",
            json={"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)},
        )


class LinkFailed(Exception):
    pass


def try_link(
    url: str, token: str, experiment: str, run_name: str, tags: dict[str, str]
) -> tuple[str | None, str]:
    """The new run's id, or None and a note saying why the job is not linked."""
    import httpx

    try:
        return MlflowLink(url, token).create_run(experiment, run_name, tags), ""
    except (LinkFailed, httpx.HTTPError, KeyError, ValueError) as exc:
        return None, f"MLflow run not linked: {exc}"
