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
