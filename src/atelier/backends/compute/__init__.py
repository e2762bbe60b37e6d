"""Compute backends: where a job's command runs, behind one small base class.

::

    backend = open_backend("local", settings.compute)        # or "ray"
    backend.check(Resources(cpus=1, memory=2 * 10**9, gpus=0))   # ImpossibleRequest if never
    devices = backend.place(resources, busy=[...])           # None: wait in the queue
    execution = backend.launch(spec)                         # in the job's supervisor process
    execution.poll(); execution.stop()

* ``local`` (:mod:`.local`) — a supervised process group on this machine: memory limit
  enforced by watching the process tree, CPUs by affinity and thread-count variables, GPUs by
  ``CUDA_VISIBLE_DEVICES``;
* ``ray`` (:mod:`.ray`) — the Ray Job Submission API of a cluster (``compute.ray_address``).

Backends are found by name in a registry (:func:`register` adds one), so services never ask
which backend they hold. Heavy packages are imported inside the backends, never here.
"""

from atelier.backends.compute.base import (
    Capacity,
    ComputeBackend,
    Execution,
    ImpossibleRequest,
    LaunchSpec,
    Outcome,
    Resources,
    Status,
)
from atelier.backends.compute.registry import backend_names, open_backend, register

__all__ = [
    "Capacity",
    "ComputeBackend",
    "Execution",
    "ImpossibleRequest",
    "LaunchSpec",
    "Outcome",
    "Resources",
    "Status",
    "backend_names",
    "open_backend",
    "register",
]
