from atelier.backends.compute import Resources, open_backend
from atelier.backends.compute.base import exit_outcome
from atelier.config.settings import ComputeSettings
from atelier.errors import ConfigError

GB = 10**9


def test_place_hands_out_free_cores_memory_and_gpus() -> None:
    backend = open_backend("local", ComputeSettings(local_cpus=2, local_memory="8GB", local_gpus=1))
    assert backend.capacity().largest == Resources(2, 8 * GB, 1)
    first = backend.place(Resources(1, 4 * GB, 1), busy=[])
    assert first is not None and len(first["cpus"]) == 1 and first["gpus"] == [0]
    # The GPU is taken: a second GPU job waits; a CPU job gets the other core.
    assert backend.place(Resources(0.5, 1 * GB, 1), busy=[first]) is None
    second = backend.place(Resources(0.5, 4 * GB), busy=[first])
    assert second is not None and second["cpus"] != first["cpus"]
    assert backend.place(Resources(1, 1 * GB), busy=[first, second]) is None  # no core left
    assert backend.place(Resources(1, 5 * GB), busy=[first]) is None  # not enough memory


def test_exit_outcomes() -> None:
    assert exit_outcome(0).state == "succeeded"
    assert exit_outcome(2).reason == "exit code 2"
    assert "SIGKILL" in exit_outcome(137).reason and "out of memory" in exit_outcome(-9).reason
    assert "unknown" in exit_outcome(None).reason


def test_unknown_backend_is_a_config_error() -> None:
    try:
        open_backend("slurm", ComputeSettings())
    except ConfigError as exc:
        assert "compute backend 'slurm' is unknown (have local, ray)" in str(exc)
    else:
        raise AssertionError("no error")
