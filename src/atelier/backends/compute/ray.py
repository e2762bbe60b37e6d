"""The Ray backend: jobs through the Ray Job Submission API of a cluster.

``compute.ray_address`` is the cluster's dashboard address (``http://head:8265``), the same
one ``ray job submit --address`` takes. The API is spoken over HTTP, so neither the server nor
a job's supervisor imports Ray itself:

* a profile becomes ``entrypoint_num_cpus``, ``entrypoint_num_gpus`` and
  ``entrypoint_memory`` (Ray reserves them for the job's driver; Ray places, not limits);
* the cluster is expected to share the workspace's filesystem (same path on every node): the
  entrypoint runs in the project folder with the project's own virtualenv, and
  ``runtime_env.py_executable`` makes the tasks the job starts use that interpreter too;
* before submitting, every alive node's resources are read from Ray's state API; a profile
  no node can hold is refused with that reason. A job Ray keeps pending longer than
  ``compute.ray_pending_seconds`` is flagged as waiting for resources, and can be cancelled;
* status and the driver's log are mirrored into Atelier's job record and log file.
"""

from __future__ import annotations

import shlex
import time
import uuid
from typing import Any

import httpx

from atelier.backends.compute.base import (
    Capacity,
    ComputeBackend,
    Execution,
    LaunchSpec,
    Outcome,
    Resources,
    Status,
    exit_outcome,
)
from atelier.errors import AtelierError, ConfigError

#: How long one HTTP call to the cluster may take.
TIMEOUT = 30.0


class RayUnavailable(AtelierError):
    status_code = 503


class RayBackend(ComputeBackend):
    name = "ray"

    @property
    def address(self) -> str:
        address: str = self.settings.ray_address.rstrip("/")
        if not address.startswith(("http://", "https://")):
            raise ConfigError(
                "compute.ray_address: give the Ray dashboard address, e.g. http://head:8265 "
                f"(got {address!r})"
            )
        return address

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(method, f"{self.address}{path}", timeout=TIMEOUT, **kwargs)
        except httpx.TransportError as exc:
            raise RayUnavailable(f"cannot reach the Ray cluster at {self.address}: {exc}") from None
        if response.status_code >= 400:
            raise RayUnavailable(
                f"Ray cluster at {self.address}: {method} {path} answered "
                f"{response.status_code}: {response.text[:300]}"
            )
        return response.json()

    def nodes(self) -> list[Resources]:
        """Every alive node's total resources (Ray's state API)."""
        body = self.request("GET", "/api/v0/nodes", params={"limit": 10000, "detail": "true"})
        found = []
        for node in body.get("data", {}).get("result", {}).get("result", []):
            if node.get("state") != "ALIVE":
                continue
            total = node.get("resources_total") or {}
            found.append(
                Resources(
                    float(total.get("CPU", 0)),
                    int(total.get("memory", 0)),
                    int(total.get("GPU", 0)),
                )
            )
        return found

    def capacity(self) -> Capacity:
        nodes = self.nodes()
        if not nodes:
            raise RayUnavailable(f"the Ray cluster at {self.address} has no alive node")
        largest = max(nodes, key=lambda n: (n.gpus, n.cpus, n.memory))
        fits_all = [n for n in nodes if n.covers(largest)]
        if not fits_all:  # no one node is largest in every resource: report each maximum
            largest = Resources(
                max(n.cpus for n in nodes), max(n.memory for n in nodes), max(n.gpus for n in nodes)
            )
        total = Resources(
            sum(n.cpus for n in nodes), sum(n.memory for n in nodes), sum(n.gpus for n in nodes)
        )
        return Capacity(largest, total, f"no node of the Ray cluster at {self.address}")

    def check(self, wanted: Resources, profile: str) -> None:
        nodes = self.nodes()
        if any(node.covers(wanted) for node in nodes):
            return
        super().check(wanted, profile)
        # Each resource exists on some node, but never all of them on the same one.
        from atelier.backends.compute.base import ImpossibleRequest

        raise ImpossibleRequest(
            f"profile {profile!r} asks for {wanted.describe()}, but no node of the Ray "
            f"cluster at {self.address} has all of it: choose a smaller profile"
        )

    def launch(self, spec: LaunchSpec) -> RayExecution:
        submission_id = f"atelier-{spec.job_id}-{uuid.uuid4().hex[:8]}"
        runtime_env: dict[str, Any] = {"env_vars": spec.env}
        if spec.python:
            runtime_env["py_executable"] = spec.python
        entrypoint = f"cd {shlex.quote(str(spec.cwd))} && exec {shlex.join(spec.argv)}"
        body: dict[str, Any] = {
            "entrypoint": entrypoint,
            "submission_id": submission_id,
            "runtime_env": runtime_env,
            "metadata": {"atelier_job": str(spec.job_id)},
            "entrypoint_num_cpus": spec.resources.cpus,
            "entrypoint_memory": spec.resources.memory,
        }
        if spec.resources.gpus:
            body["entrypoint_num_gpus"] = spec.resources.gpus
        self.request("POST", "/api/jobs/", json=body)
        return RayExecution(self, submission_id, spec)

    def attach(
        self, external_id: str, process_started: float | None, spec: LaunchSpec
    ) -> RayExecution | None:
        try:
            self.request("GET", f"/api/jobs/{external_id}")
        except RayUnavailable:
            return None
        execution = RayExecution(self, external_id, spec)
        execution.mirrored = spec.log.stat().st_size if spec.log.exists() else 0
        return execution


class RayExecution(Execution):
    def __init__(self, backend: RayBackend, submission_id: str, spec: LaunchSpec) -> None:
        self.backend = backend
        self.external_id = submission_id
        self.spec = spec
        self.mirrored = 0
        self.submitted = time.monotonic()
        self.stopping = False

    def poll(self) -> Status:
        info = self.backend.request("GET", f"/api/jobs/{self.external_id}")
        self._mirror_logs()
        status = info.get("status")
        if status == "PENDING":
            waited = time.monotonic() - self.submitted
            note = ""
            if waited > self.backend.settings.ray_pending_seconds:
                note = (
                    f"waiting for resources: the Ray cluster has not started it in {waited:.0f} s "
                    f"(it needs {self.spec.resources.describe()} free on one node); "
                    "cancel it or wait"
                )
            return Status("queued", note=note)
        if status == "RUNNING":
            return Status("running")
        code = info.get("driver_exit_code")
        if status == "SUCCEEDED":
            return Status("done", Outcome("succeeded", 0 if code is None else int(code)))
        if status == "STOPPED":
            return Status("done", Outcome("cancelled", code, "stopped on the Ray cluster"))
        outcome = exit_outcome(None if code is None else int(code))
        message = str(info.get("message") or "").strip()
        reason = outcome.reason if code is not None else message or outcome.reason
        return Status("done", Outcome("failed", outcome.exit_code, reason[:2000]))

    def stop(self, grace: float = 5.0) -> None:
        # Ray sends SIGTERM to the driver, then SIGKILL after its own grace period.
        self.backend.request("POST", f"/api/jobs/{self.external_id}/stop")
        deadline = time.monotonic() + max(grace, 1.0) + 10
        while time.monotonic() < deadline:
            if self.poll().phase == "done":
                return
            time.sleep(0.25)

    def _mirror_logs(self) -> None:
        text = self.backend.request("GET", f"/api/jobs/{self.external_id}/logs").get("logs", "")
        data = text.encode()
        if len(data) > self.mirrored:
            with self.spec.log.open("ab") as log:
                log.write(data[self.mirrored :])
            self.mirrored = len(data)
