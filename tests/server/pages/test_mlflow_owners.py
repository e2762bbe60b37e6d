"""The gateway's table of MLflow's write endpoints stays complete (no server needed).

Every route of MLflow's server that accepts a method other than GET/HEAD/OPTIONS must either
have an owner rule in :data:`mlflow_owners.RULES` or be one that is knowingly left to admins:
when MLflow adds a write endpoint, this test fails until it is classified.
"""

from __future__ import annotations

import re
import warnings

import pytest

from atelier.errors import InvalidInput
from atelier.server.pages import mlflow_owners
from atelier.server.pages.mlflow_owners import rule_for, values

#: Write endpoints left to admins on purpose (AI gateway and its secrets, webhooks, workspaces,
#: evaluation datasets, review queues, issues, label schemas, prompt optimization, server-side
#: jobs and demos, UI telemetry, the prompt lab, and a route MLflow registers without a slash).
ADMIN_ONLY = re.compile(
    r"mlflow/(?:webhooks|workspaces|gateway/|gateway-proxy|datasets|issues|label-schemas|"
    r"review-queues|prompt-optimization|scorers/online-config|scorer/invoke|demo/|"
    r"genai/evaluate/invoke|jobs/cancel|runs/create-promptlab-run|ui-telemetry)"
    r"|^/mlflow/(?:ajax-)?api/2\.0mlflow/"
)


def _flask_writes() -> list[tuple[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.server import app
    found = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"\1-x", rule.rule)
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            found.append((method, "/mlflow" + path))
    return found


def test_every_mlflow_write_endpoint_is_classified() -> None:
    writes = _flask_writes()
    assert len(writes) > 200  # MLflow's whole REST API, both prefixes
    unclassified = []
    for method, path in writes:
        found = rule_for(method, path)
        assert found is not None, (method, path)
        rule, _, _ = found
        if rule is mlflow_owners._admins_only and not ADMIN_ONLY.search(path):
            unclassified.append((method, path))
    assert unclassified == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/mlflow/api/2.0/mlflow/some/new-endpoint"),
        ("PUT", "/mlflow/ajax-api/3.0/mlflow/runs/delete"),  # a method MLflow does not route
        ("POST", "/mlflow/ajax-api/3.0/jobs/"),
        ("POST", "/mlflow/gateway/chat/mlflow/invocations"),
        ("DELETE", "/mlflow/api/2.0/mlflow/runs/delete/"),
        ("POST", "/mlflow/anything"),
    ],
)
def test_writes_outside_the_table_are_for_admins(method: str, path: str) -> None:
    found = rule_for(method, path)
    assert found is not None and found[0] is mlflow_owners._admins_only


def test_reads_need_no_rule() -> None:
    assert rule_for("GET", "/mlflow/api/2.0/mlflow/runs/get") is None
    assert rule_for("GET", "/mlflow/graphql") is not None  # GraphQL reads its body on GET too


def test_identifiers_are_read_in_every_spelling() -> None:
    body = {"run_id": "a", "runUuid": "b", "tags": [{"key": "k"}, {"key": "mlflow.user"}]}
    assert values(body, "run_id") + values(body, "run_uuid") == ["a", "b"]
    assert values(body, "tags", "key") == ["k", "mlflow.user"]
    nested = {"trace": {"traceInfo": {"trace_location": {"mlflowExperiment": {"experimentId": 7}}}}}
    path = ("trace", "trace_info", "trace_location", "mlflow_experiment", "experiment_id")
    assert values(nested, *path) == ["7"]
    with pytest.raises(InvalidInput, match="must be a string"):
        values({"run_id": {"$ne": ""}}, "run_id")


# -- deciding from memory -----------------------------------------------------------------


class _Store:
    """MLflow's answers for two runs: ``r1`` of ada in an experiment with no project, ``r2``
    of ada in one of project ``churn``; counts the lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    def get_run(self, run_id: str) -> object:
        from types import SimpleNamespace as NS

        self.lookups += 1
        if run_id not in ("r1", "r2"):
            from mlflow.exceptions import MlflowException

            raise MlflowException(f"no run {run_id}")
        experiment = "1" if run_id == "r1" else "2"
        return NS(
            data=NS(tags={"mlflow.user": "ada"}),
            info=NS(run_id=run_id, user_id="ada", experiment_id=experiment),
        )

    def get_experiment(self, experiment_id: str) -> object:
        from types import SimpleNamespace as NS

        self.lookups += 1
        tags = {"atelier.owner": "ada"}
        if experiment_id == "2":
            tags["atelier.project"] = "churn"
        return NS(experiment_id=experiment_id, name=f"e{experiment_id}", tags=tags)


def _person(name: str, role: str = "scientist") -> object:
    from atelier.services.auth import Principal

    return Principal(user_id=hash(name) % 1000, name=name, role=role, via="token")


def _log(owners: object, who: object, run_id: str) -> mlflow_owners.Decision:
    body = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    path = "/mlflow/api/2.0/mlflow/runs/log-metric"
    return mlflow_owners.authorize(owners, who, "POST", path, body, [], {})  # type: ignore[arg-type]


def test_run_writes_are_decided_from_memory_only_with_the_same_answer() -> None:
    from atelier.errors import PermissionDenied
    from atelier.services.tracking.ownership import Ownership

    store = _Store()
    owners = Ownership(lambda: store)  # type: ignore[arg-type,return-value]
    memory = mlflow_owners._memory_of(owners)
    ada, bob, root = _person("ada"), _person("bob"), _person("root", "admin")
    # Nothing remembered yet: memory alone cannot decide, and learns nothing by trying.
    with pytest.raises(mlflow_owners._NeedsLookup):
        _log(memory, ada, "r1")
    assert store.lookups == 0 and owners._runs == {}
    _log(owners, ada, "r1")  # the lookup (in a worker thread, in the gateway)
    looked_up = store.lookups
    # Now from memory: the owner and admins may, another scientist is refused the same way.
    _log(memory, ada, "r1")
    _log(memory, root, "r1")
    with pytest.raises(PermissionDenied, match="bob may not log a metric to run r1"):
        _log(memory, bob, "r1")
    with pytest.raises(PermissionDenied, match="bob may not log a metric to run r1"):
        _log(owners, bob, "r1")
    assert store.lookups == looked_up
    # Project membership is never taken from memory: a member's right is looked up each time.
    _log(owners, ada, "r2")
    with pytest.raises(mlflow_owners._NeedsLookup):
        _log(memory, bob, "r2")
    # A run that is not there is for the lookup to say so.
    with pytest.raises(mlflow_owners._NeedsLookup):
        _log(memory, ada, "nope")


def test_only_rules_that_change_nothing_are_tried_from_memory() -> None:
    from_memory = {
        pattern.pattern
        for _, pattern, rule in mlflow_owners.RULES
        if getattr(rule, "from_memory", False)
    }
    assert "mlflow/runs/log-metric" in from_memory
    assert "mlflow/runs/log-batch" in from_memory
    # Rules that force attribution tags or audit are never tried on memory.
    assert "mlflow/runs/create" not in from_memory
    assert "mlflow/experiments/create" not in from_memory
    assert not any(p.startswith("mlflow/registered-models") for p in from_memory)
