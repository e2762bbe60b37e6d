"""The experiments service's own rules (the pages on real runs: tests/server/pages)."""

from __future__ import annotations

import pytest

from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.tracking.experiments import MAX_COMPARED, Experiments, compared_ids
from atelier.services.workbench import Workbench


def test_viewers_are_refused_before_mlflow_is_asked(workbench: Workbench) -> None:
    viewer = workbench.users.create("vic", "viewer")
    experiments = Experiments(workbench.tracking_server)
    principal = Principal(viewer.id, viewer.name, viewer.role, "token")
    with pytest.raises(PermissionDenied, match="only admins and scientists"):
        experiments.all(principal)
    with pytest.raises(PermissionDenied):
        experiments.runs(principal, "0")
    with pytest.raises(PermissionDenied):
        experiments.compare(principal, ["a,b"])
    assert not workbench.tracking_server.running  # refused without starting MLflow


def test_compared_runs_are_named_once_and_bounded() -> None:
    assert compared_ids(["b, a", "b", " ", "c"]) == ["b", "a", "c"]
    with pytest.raises(InvalidInput, match="pick runs to compare"):
        compared_ids([" , "])
    with pytest.raises(InvalidInput, match=f"at most {MAX_COMPARED}"):
        compared_ids([",".join(str(i) for i in range(MAX_COMPARED + 1))])
