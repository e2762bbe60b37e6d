"""The Ray backend against a real local Ray head (one CPU, no GPU)."""

from __future__ import annotations

import pytest

from atelier.backends.compute import ImpossibleRequest, Resources, open_backend
from atelier.backends.compute.ray import RayUnavailable
from atelier.config.settings import ComputeSettings
from atelier.errors import ConfigError
from tests.conftest import free_port


@pytest.mark.timeout(900)  # the session's Ray head may start here
def test_capacity_and_impossible_requests(ray_head: str) -> None:
    backend = open_backend("ray", ComputeSettings(backend="ray", ray_address=ray_head))
    capacity = backend.capacity()
    assert capacity.largest.cpus == 1 and capacity.largest.gpus == 0
    backend.check(Resources(1, 10**8), "small")
    with pytest.raises(ImpossibleRequest, match=r"profile 'gpu' asks for .*1 GPU.*0 GPUs"):
        backend.check(Resources(1, 10**8, gpus=1), "gpu")
    with pytest.raises(ImpossibleRequest, match="no node of the Ray cluster"):
        backend.check(Resources(64, 10**8), "big")


def test_unreachable_cluster_and_bad_address() -> None:
    down = open_backend(
        "ray", ComputeSettings(backend="ray", ray_address=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(
        RayUnavailable, match=r"cannot reach the Ray cluster at http://127\.0\.0\.1"
    ):
        down.capacity()
    with pytest.raises(ConfigError, match="give the Ray dashboard address"):
        open_backend("ray", ComputeSettings(ray_address="ray://head:10001")).capacity()
