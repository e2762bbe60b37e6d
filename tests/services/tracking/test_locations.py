"""The gateway's table of MLflow locations against MLflow's own protos (no server needed).

These tests fail when an MLflow upgrade adds a field that names a location, moves a route, or
renames a field: the table in ``atelier.services.tracking.locations`` must then be looked at again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.services.tracking.locations import (
    ENDPOINTS,
    UnsafeArtifactPath,
    check_body,
    check_query,
    check_source,
    check_stored,
    endpoint_for,
    json_name,
    spellings,
    store_relative_path,
)

pytest.importorskip("mlflow")

#: Request fields whose names look like locations but are not ones MLflow reads or writes
#: files at, with the reason.
NOT_LOCATIONS = {
    # Who or what made an assessment (a person, an LLM judge), not a path.
    ("CreateAssessment", "assessment.source"),
    ("UpdateAssessment", "assessment.source"),
    ("StartTraceV3", "trace.trace_info.assessments.source"),
    # A dataset's description (JSON of where the data came from); MLflow never opens it.
    ("LogInputs", "datasets.dataset.source"),
    ("CreateDataset", "source"),
    # The experiment (or table) a trace belongs to: an id, not where its data is written.
    ("StartTraceV3", "trace.trace_info.trace_location"),
    # Read by an optimization job; Atelier runs MLflow with job execution off.
    ("CreatePromptOptimizationJob", "source_prompt_uri"),
}

_LOCATION_NAME = re.compile(r"(location|uri|path|root|source)$")


def _services() -> list[Any]:
    from mlflow.protos.mlflow_artifacts_pb2 import MlflowArtifactsService
    from mlflow.protos.model_registry_pb2 import ModelRegistryService
    from mlflow.protos.service_pb2 import MlflowService
    from mlflow.protos.webhooks_pb2 import WebhookService

    return [MlflowService, ModelRegistryService, MlflowArtifactsService, WebhookService]


def mlflow_routes() -> Iterator[tuple[str, str, Any]]:
    """(method, a concrete /mlflow/api path, request descriptor) for each of MLflow's routes."""
    from mlflow.protos import databricks_pb2

    for service in _services():
        for method in service.DESCRIPTOR.methods:
            for endpoint in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                path = re.sub(r"<path:\w+>", "a/b", endpoint.path)
                path = re.sub(r"\{[\w.]+\}", "x1", path)
                path = f"/mlflow/api/{endpoint.since.major}.0{path}"
                yield endpoint.method, path, method.input_type


def location_fields(descriptor: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for field in descriptor.fields:
        if _LOCATION_NAME.search(field.name):
            yield (*prefix, field.name)
        nested = field.message_type
        if (
            nested is not None
            and not nested.full_name.startswith("google.")
            and nested.full_name not in {d.full_name for d in _ancestors(descriptor)}
            and len(prefix) < 4
        ):
            yield from location_fields(nested, (*prefix, field.name))


def _ancestors(descriptor: Any) -> list[Any]:
    found = []
    while descriptor is not None:
        found.append(descriptor)
        descriptor = descriptor.containing_type
    return found


def test_every_location_field_of_mlflow_is_checked_or_known_harmless() -> None:
    missing = []
    for method, path, request in mlflow_routes():
        endpoint = endpoint_for(method, path)
        checked = {location.path for location in endpoint.body} if endpoint else set()
        for field in location_fields(request):
            if field not in checked and (request.name, ".".join(field)) not in NOT_LOCATIONS:
                missing.append(f"{method} {path} {request.name}.{'.'.join(field)}")
    assert not missing, "location fields the gateway does not check: " + ", ".join(missing)


def test_every_checked_field_exists_in_mlflow_with_the_spellings_it_parses() -> None:
    requests: dict[Any, list[Any]] = {}
    for method, path, request in mlflow_routes():
        endpoint = endpoint_for(method, path)
        if endpoint is not None:
            requests.setdefault(endpoint, []).append(request)
    for endpoint in ENDPOINTS:
        if not endpoint.body:
            continue
        assert endpoint in requests, f"no MLflow route matches {endpoint.method} {endpoint.route}"
        for request in requests[endpoint]:
            for location in endpoint.body:
                descriptor = request
                for name in location.path:
                    field = descriptor.fields_by_name[name]
                    assert spellings(name) == tuple(dict.fromkeys((field.name, field.json_name)))
                    descriptor = field.message_type


def test_json_names_follow_protoc() -> None:
    assert json_name("artifact_location") == "artifactLocation"
    assert json_name("trace_archival_config") == "traceArchivalConfig"
    assert json_name("path") == "path"


# -- the checks themselves -----------------------------------------------------------------


def refused(function: Any, *args: Any) -> str:
    with pytest.raises(UnsafeArtifactPath) as caught:
        function(*args)
    return str(caught.value)


@pytest.mark.parametrize("key", ["artifact_location", "artifactLocation"])
@pytest.mark.parametrize(
    "value", ["/tmp/x", "file:///tmp/x", "mlflow-artifacts:/0", "s3://b/k", 0, ["x"], {"a": 1}]
)
def test_experiment_artifact_location_is_never_the_clients(
    key: str, value: object, tmp_path: Path
) -> None:
    endpoint = endpoint_for("POST", "/mlflow/ajax-api/2.0/mlflow/experiments/create")
    assert endpoint is not None
    message = refused(check_body, endpoint, {"name": "e", key: value}, tmp_path)
    assert key in message and "the server chooses it" in message


def test_only_the_spellings_mlflow_parses_are_locations(tmp_path: Path) -> None:
    endpoint = endpoint_for("POST", "/mlflow/api/2.0/mlflow/experiments/create")
    assert endpoint is not None
    # MLflow ignores these keys: they choose nothing, so they pass.
    for key in ("ARTIFACT_LOCATION", "Artifact_location", "artifactlocation", "artifact-location"):
        check_body(endpoint, {"name": "e", key: "/tmp/x"}, tmp_path)
    check_body(endpoint, {"name": "e", "artifact_location": ""}, tmp_path)


def test_sources_and_descriptions_elsewhere_pass_untouched(tmp_path: Path) -> None:
    dataset = {"source": '{"uri": "/etc/passwd"}', "source_type": "local"}
    inputs = endpoint_for("POST", "/mlflow/api/2.0/mlflow/runs/log-inputs")
    assert inputs is None  # nothing to check on log-inputs at all
    endpoint = endpoint_for("POST", "/mlflow/api/2.0/mlflow/model-versions/create")
    assert endpoint is not None
    check_body(endpoint, {"name": "m", "source": "runs:/abc/model", "tags": [dataset]}, tmp_path)
    check_body(endpoint, {"name": "p", "source": "dummy-source"}, tmp_path)


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc",
        "/etc/passwd",
        "s3://bucket/key",
        "mlflow-artifacts://evil.example/x",
        "mlflow-artifacts:/0/../../x",
        "mlflow-artifacts:/0/%2e%2e/x",
        "runs://host/model",
        "runs:/abc/../../../x",
        "models://host/m-1",
        "relative/dir",
        "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/x",
    ],
)
def test_model_version_sources_outside_the_store_are_refused(source: str, tmp_path: Path) -> None:
    refused(check_source, "source", source, tmp_path)


def test_local_sources_inside_the_store_pass(tmp_path: Path) -> None:
    check_source("source", str(tmp_path / "1" / "abc" / "artifacts" / "model"), tmp_path)
    check_source("source", (tmp_path / "m").as_uri(), tmp_path)
    check_stored("location", "mlflow-artifacts:/1/abc/artifacts", tmp_path)
    assert store_relative_path(str(tmp_path / "1" / "x"), tmp_path) == "1/x"
    assert store_relative_path("mlflow-artifacts:/1/x", tmp_path) == "1/x"
    assert store_relative_path("/elsewhere/x", tmp_path) is None


def test_symlinked_store_paths_are_judged_by_where_they_lead(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "out").symlink_to(tmp_path)
    refused(check_stored, "location", str(store / "out" / "x"), store)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/mlflow/api/3.0/mlflow/traces", {"trace": {"trace_info": {"tags": {}}}}),
        ("POST", "/mlflow/api/2.0/mlflow/traces", {"tags": []}),
        ("PATCH", "/mlflow/api/2.0/mlflow/traces/tr-1", {"tags": []}),
        ("PATCH", "/mlflow/ajax-api/3.0/mlflow/traces/tr-1/tags", {}),
        ("DELETE", "/mlflow/api/2.0/mlflow/traces/tr-1/tags", {}),
    ],
)
def test_trace_location_tags_are_the_servers(
    method: str, path: str, body: dict[str, Any], tmp_path: Path
) -> None:
    endpoint = endpoint_for(method, path)
    assert endpoint is not None
    check_body(endpoint, body, tmp_path)
    for tag in ("mlflow.artifactLocation", "mlflow.trace.archiveLocation"):
        if "tags" in body:
            body["tags"] = [{"key": tag, "value": "file:///etc"}]
        elif "trace" in body:
            body["trace"] = {"traceInfo": {"tags": {tag: "file:///etc"}}}
        else:
            body["key"] = tag
        assert tag in refused(check_body, endpoint, body, tmp_path)


def test_get_reads_locations_from_the_query_by_exact_name(tmp_path: Path) -> None:
    endpoint = endpoint_for("GET", "/mlflow/api/2.0/mlflow/artifacts/list")
    assert endpoint is not None
    refused(check_query, endpoint, [("run_id", "r"), ("path", "../x")], tmp_path)
    refused(check_query, endpoint, [("path", "ok"), ("path", "/etc")], tmp_path)
    # MLflow reads GET parameters by their proto name only: other keys choose nothing.
    check_query(endpoint, [("Path", "../x"), ("run_id", "../x")], tmp_path)
    # With no query string MLflow reads the JSON body instead.
    refused(check_body, endpoint, {"run_id": "r", "path": "../../x"}, tmp_path)
