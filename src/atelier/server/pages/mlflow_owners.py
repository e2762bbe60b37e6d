"""Who may change what through ``/mlflow``: every MLflow endpoint that writes, and its owner rule.

Every admin and scientist reads everything MLflow holds. A request that may change something
(any method but GET, HEAD and OPTIONS, and GraphQL on any method) must match a rule of
:data:`RULES`, which says which object it changes and asks :mod:`atelier.services.tracking.
ownership` whether the caller may: the object's owner, the members of its project and admins.
**Deny by default**: an endpoint that is not in the table (MLflow's AI gateway, webhooks,
workspaces, evaluation datasets, review queues, jobs, … and whatever a later MLflow adds) is for
admins only. The table was made from MLflow's own handler list
(``mlflow.server.handlers.get_endpoints`` plus the Flask and FastAPI routes of
``mlflow.server``); ``tests/server/pages/test_mlflow_owners.py`` fails when MLflow gains a
write endpoint that is neither in the table nor knowingly left to admins.

Identifiers are read in every spelling MLflow's parser accepts (``run_id``/``runId`` and the
older ``run_uuid``/``runUuid``, nested fields too); all that are present are checked. The
attribution tags (``mlflow.user`` on runs, ``atelier.owner`` and ``atelier.project`` on
experiments, ``atelier.registered_by`` on models and versions, ``atelier.owner`` on logged
models) are set by the gateway when the object is made and cannot be set or deleted afterwards,
by anyone. Moving or deleting a protected alias (and deleting or renaming the model, or deleting
the version, it points at) needs the model's owner or an admin, and is audited.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.server.api.deps import client, workbench
from atelier.services.tracking.ownership import (
    EXPERIMENT_TAGS,
    LOGGED_MODEL_TAGS,
    MODEL_TAGS,
    OWNER_TAG,
    PROJECT_TAG,
    RUN_TAGS,
    VERSION_TAGS,
    Ownership,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from atelier.services.auth import AuditLog, Principal

#: The experiment MLflow uses when a request names none.
DEFAULT_EXPERIMENT = "0"
_API = re.compile(r"^/mlflow/(?:ajax-)?api/[0-9]+\.[0-9]+/(.+)$")


@dataclass
class Call:
    """One request that may write, as the rules see it."""

    principal: Principal
    owners: Ownership
    method: str
    #: The endpoint after ``/mlflow/(ajax-)api/X.Y/`` (``mlflow/runs/delete``), or the path.
    endpoint: str
    match: re.Match[str]
    body: Any
    #: Every ``(name, value)`` of the query string (a name may repeat: Flask reads the first,
    #: Starlette the last, so all are checked).
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    #: The body was changed (attribution tags forced) and must be sent re-encoded.
    changed: bool = False
    #: ``(action, target, detail)`` to audit once MLflow has done it.
    audit: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Decision:
    """What the gateway does with an allowed write: send ``content`` instead of the body it
    got (when not None), and audit ``audit`` once MLflow has answered."""

    content: bytes | None = None
    audit: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    log: AuditLog | None = None
    actor: str = ""
    client: str | None = None

    async def record(self, status_code: int) -> None:
        """Audit the change (``success`` from MLflow's answer)."""
        if not self.audit or self.log is None:
            return
        log = self.log
        for action, target, detail in self.audit:
            await run_in_threadpool(
                log.record,
                action,
                actor=self.actor,
                target=target,
                client=self.client,
                success=status_code < 400,
                detail={**detail, "via": "mlflow"},
            )


# -- reading a request --------------------------------------------------------------------


def _spellings(name: str) -> tuple[str, ...]:
    """``run_uuid`` and ``runUuid``: the proto name and the JSON name ``ParseDict`` accepts."""
    head, *rest = name.split("_")
    camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
    return (name,) if camel == name else (name, camel)


def _get(obj: Any, name: str) -> list[Any]:
    if not isinstance(obj, Mapping):
        return []
    return [obj[key] for key in _spellings(name) if key in obj and obj[key] not in (None, "")]


def values(obj: Any, *path: str) -> list[str]:
    """Every value at ``path`` (field names, each in all its spellings; lists walked)."""
    found: list[Any] = [obj]
    for name in path:
        step: list[Any] = []
        for item in found:
            for value in _get(item, name):
                step.extend(value if isinstance(value, list) else [value])
        found = step
    out = []
    for value in found:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(f"field {'.'.join(path)!r} must be a string, not {value!r}")
        out.append(str(value))
    return out


def _one_or_more(call: Call, *path: str, what: str) -> list[str]:
    found = values(call.body, *path)
    if not found:
        raise InvalidInput(f"the request names no {what} (field {'.'.join(path)!r})")
    return found


def _tags(body: Any) -> list[Any]:
    tags = _get(body, "tags")
    return tags[-1] if tags and isinstance(tags[-1], list) else []


def _refuse_tags(call: Call, keys: Iterable[str], protected: frozenset[str], what: str) -> None:
    for key in keys:
        if key in protected:
            raise PermissionDenied(
                f"{call.principal.name} may not set or delete tag {key!r}: it records who made "
                f"the {what}, which no one changes"
            )


def _force(call: Call, key: str, value: str | None) -> None:
    """Set tag ``key`` of the object being created to ``value`` (drop it when None)."""
    if not isinstance(call.body, dict):
        raise InvalidInput("the request body must be a JSON object")
    kept = [t for t in _tags(call.body) if not (isinstance(t, Mapping) and t.get("key") == key)]
    if value is not None:
        kept.append({"key": key, "value": value})
    call.body["tags"] = kept
    call.changed = True


# -- the rules ----------------------------------------------------------------------------


def _from_memory(rule: Rule) -> Rule:
    """Mark ``rule`` as one that changes nothing in the request (no forced tags, no audit):
    it may first be tried on what :class:`Ownership` remembers (see :func:`check_owners`)."""
    rule.from_memory = True  # type: ignore[attr-defined]
    return rule


def _experiment_create(call: Call) -> None:
    names = values(call.body, "name")
    name = names[-1] if names else ""
    given = [
        t.get("value")
        for t in _tags(call.body)
        if isinstance(t, Mapping) and t.get("key") == PROJECT_TAG
    ]
    project = str(given[-1]) if given and given[-1] else call.owners.project_named(name)
    if project:
        call.owners.check_project(call.principal, project, f"experiment {name!r}")
    _force(call, OWNER_TAG, call.principal.name)
    _force(call, PROJECT_TAG, project or None)


def _experiment_write(action: str, tags: bool = False) -> Callable[[Call], None]:
    def rule(call: Call) -> None:
        if tags:
            _refuse_tags(call, values(call.body, "key"), EXPERIMENT_TAGS, "experiment")
        for experiment in _one_or_more(call, "experiment_id", what="experiment"):
            call.owners.check_write(call.principal, call.owners.experiment(experiment), action)

    return rule


def _experiment_rename(call: Call) -> None:
    _experiment_write("rename")(call)
    for name in values(call.body, "new_name"):
        if call.owners.project_named(name):  # the experiment that project's jobs log to
            call.owners.check_project(call.principal, name, f"experiment {name!r}")


def _add_to(call: Call, experiments: list[str], action: str) -> None:
    for experiment in experiments or [DEFAULT_EXPERIMENT]:
        call.owners.check_add(call.principal, call.owners.experiment(experiment), action)


def _run_create(call: Call) -> None:
    _add_to(call, values(call.body, "experiment_id"), "create a run")


def _runs(call: Call, action: str, ids: list[str]) -> None:
    if not ids:
        raise InvalidInput("the request names no run (field 'run_id')")
    for run in ids:
        call.owners.check_write(call.principal, call.owners.run(run), action)


def _logged_models(call: Call, ids: Iterable[str], action: str) -> None:
    for model_id in ids:
        call.owners.check_write(call.principal, call.owners.logged_model(model_id), action)


def _run_write(action: str) -> Callable[[Call], None]:
    @_from_memory
    def rule(call: Call) -> None:
        endpoint = call.endpoint
        if endpoint.endswith(("/set-tag", "/delete-tag")):
            _refuse_tags(call, values(call.body, "key"), RUN_TAGS, "run")
        if endpoint.endswith("/log-batch"):
            _refuse_tags(call, values(call.body, "tags", "key"), RUN_TAGS, "run")
        ids = values(call.body, "run_id") + values(call.body, "run_uuid")
        _runs(call, action, ids)
        # Metrics may be logged onto a logged model, outputs name logged models: theirs too.
        model_ids = values(call.body, "model_id") + values(call.body, "metrics", "model_id")
        if endpoint.endswith("/outputs"):
            model_ids += values(call.body, "models", "model_id")
        _logged_models(call, model_ids, f"{action} of")

    return rule


def _upload_artifact(call: Call) -> None:
    _runs(call, "upload artifacts to", [v for k, v in call.query if k == "run_uuid" and v])


def _presigned_upload(call: Call) -> None:
    runs = values(call.body, "run_id")
    models = values(call.body, "model_id")
    if not runs and not models:
        raise InvalidInput("the request names no run or logged model")
    if runs:
        _runs(call, "upload artifacts to", runs)
    _logged_models(call, models, "upload artifacts to")


def _artifact_path(call: Call) -> None:
    """``mlflow-artifacts/artifacts/<experiment>/<run>/…`` and the multipart routes: the
    object whose folder it is (a run, a logged model, a trace, else the experiment)."""
    parts = [p for p in call.match.group(1).split("/") if p]
    if not parts or not parts[0].isdigit():
        raise PermissionDenied(
            f"artifact path {call.match.group(1)!r} is not under an experiment: only admins "
            "write there"
        )
    experiment, second = parts[0], parts[1] if len(parts) > 1 else None
    action = "change artifacts of"
    owners, who = call.owners, call.principal
    if second in ("models", "traces") and len(parts) > 2:
        if second == "models":
            target = owners.logged_model(parts[2])
            home = owners.logged_model_experiment(parts[2])
            owners.check_write(who, target, action)
        else:
            home = owners.trace_experiment(parts[2])
            owners.check_add(who, owners.experiment(home), "change trace artifacts")
        if home != experiment:
            owners.check_write(who, owners.experiment(experiment), action)
        return
    if second is not None:
        try:
            run = owners.run(second)
        except NotFound:
            run = None
        if run is not None:
            owners.check_write(who, run, action)
            if owners.run_experiment(second) == experiment:
                return
    owners.check_write(who, owners.experiment(experiment), action)


def _logged_model_create(call: Call) -> None:
    _add_to(call, values(call.body, "experiment_id"), "create a logged model")
    if runs := values(call.body, "source_run_id"):
        _runs(call, "log a model to", runs)
    _force(call, OWNER_TAG, call.principal.name)


def _logged_model_write(action: str) -> Callable[[Call], None]:
    def rule(call: Call) -> None:
        model_id = call.match.group(1)
        if call.endpoint.endswith("/tags") or "/tags/" in call.endpoint:
            keys = values(call.body, "tags", "key")
            if "/tags/" in call.endpoint:
                keys.append(call.endpoint.split("/tags/", 1)[1])
            _refuse_tags(call, keys, LOGGED_MODEL_TAGS, "logged model")
        _logged_models(call, [model_id], action)

    return rule


def _trace_start(call: Call) -> None:
    experiments = values(call.body, "experiment_id") + values(
        call.body, "trace", "trace_info", "trace_location", "mlflow_experiment", "experiment_id"
    )
    _add_to(call, experiments, "record a trace")


def _traces(call: Call, ids: Iterable[str], action: str) -> None:
    found = False
    for trace in ids:
        found = True
        experiment = call.owners.experiment(call.owners.trace_experiment(trace))
        call.owners.check_add(call.principal, experiment, action)
    if not found:
        raise InvalidInput("the request names no trace")


def _trace_write(action: str) -> Callable[[Call], None]:
    def rule(call: Call) -> None:
        ids = [call.match.group(1)] if call.match.groups() else []
        ids += values(call.body, "trace_id") + values(call.body, "request_id")
        _traces(call, ids, action)

    return rule


def _traces_link_to_run(call: Call) -> None:
    _runs(call, "link traces to", values(call.body, "run_id"))
    _traces(call, values(call.body, "trace_ids"), "link")


def _experiment_config(action: str) -> Callable[[Call], None]:
    """Scorers and bulk trace deletion change the experiment itself."""

    def rule(call: Call) -> None:
        experiments = values(call.body, "experiment_id") or [DEFAULT_EXPERIMENT]
        for experiment in experiments:
            call.owners.check_write(call.principal, call.owners.experiment(experiment), action)

    return rule


def _model_create(call: Call) -> None:
    name = (values(call.body, "name") or [""])[-1]
    given = [
        t.get("value")
        for t in _tags(call.body)
        if isinstance(t, Mapping) and t.get("key") == PROJECT_TAG
    ]
    if given and given[-1]:
        call.owners.check_project(call.principal, str(given[-1]), f"model {name!r}")
    call.owners.check_model_name(call.principal, name)
    # ``atelier.registered_by`` is forced by the gateway's attribution (mlflow.py).


def _model_names(call: Call) -> list[str]:
    return _one_or_more(call, "name", what="registered model")


def _model_write(action: str, protected_tags: frozenset[str] = frozenset()) -> Rule:
    def rule(call: Call) -> None:
        if protected_tags:
            _refuse_tags(call, values(call.body, "key"), protected_tags, "model")
        for name in _model_names(call):
            call.owners.check_write(call.principal, call.owners.model(name), action)

    return rule


def _protected(reasons: list[str]) -> dict[str, Any]:
    return {"protected": reasons} if reasons else {}


def _number(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _alias_set(call: Call) -> None:
    for name in _model_names(call):
        for alias in _one_or_more(call, "alias", what="alias"):
            model = call.owners.model(name)
            previous = call.owners.model_aliases(name).get(alias)
            reasons = call.owners.check_alias(
                call.principal, model, name, alias, f"move {name}@{alias}"
            )
            versions = values(call.body, "version")
            call.audit.append(
                (
                    "model.alias",
                    f"{name}@{alias}",
                    {
                        "version": _number(versions[-1]) if versions else None,
                        "previous": _number(previous) if previous else None,
                        **_protected(reasons),
                    },
                )
            )


def _alias_delete(call: Call) -> None:
    for name in _model_names(call):
        for alias in _one_or_more(call, "alias", what="alias"):
            reasons = call.owners.check_alias(
                call.principal, call.owners.model(name), name, alias, f"delete {name}@{alias}"
            )
            call.audit.append(("model.alias.delete", f"{name}@{alias}", _protected(reasons)))


def _aliases_of(call: Call, name: str, version: str | None, action: str) -> list[str]:
    """Check every alias of ``name`` (pointing at ``version``, or any) as ``action`` does."""
    model = call.owners.model(name)
    call.owners.check_write(call.principal, model, action)
    reasons: list[str] = []
    for alias, points_at in sorted(call.owners.model_aliases(name).items()):
        if version is None or points_at == version:
            reasons += call.owners.check_alias(
                call.principal, model, name, alias, f"{action} (it holds {name}@{alias})"
            )
    return reasons


def _model_delete(call: Call) -> None:
    for name in _model_names(call):
        reasons = _aliases_of(call, name, None, f"delete model {name!r}")
        call.audit.append(("model.delete", name, _protected(reasons)))


def _model_rename(call: Call) -> None:
    for name in _model_names(call):
        reasons = _aliases_of(call, name, None, f"rename model {name!r}")
        detail: dict[str, Any] = {"new_name": (values(call.body, "new_name") or [""])[-1]}
        call.owners.check_model_name(call.principal, detail["new_name"])
        call.audit.append(("model.rename", name, {**detail, **_protected(reasons)}))


def _version_delete(call: Call) -> None:
    for name in _model_names(call):
        for version in _one_or_more(call, "version", what="model version"):
            reasons = _aliases_of(call, name, version, f"delete {name}/{version}")
            call.audit.append(("model.version.delete", f"{name}/{version}", _protected(reasons)))


def _graphql(call: Call) -> None:
    """Queries read; a mutation (or a document that does not parse) is for admins."""
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    queries = values(call.body, "query")
    try:
        documents = [parse(query) for query in queries]
    except GraphQLError:
        raise InvalidInput("the GraphQL document does not parse") from None
    for document in documents:
        for definition in document.definitions:
            if (
                isinstance(definition, OperationDefinitionNode)
                and definition.operation != OperationType.QUERY
            ):
                _admins_only(call)


def _otlp_traces(call: Call) -> None:
    experiment = call.headers.get("x-mlflow-experiment-id", "")
    _add_to(call, [experiment] if experiment else [], "record traces")


def _read(call: Call) -> None:
    """A POST that only reads (searches)."""


def _admins_only(call: Call) -> None:
    if call.principal.role != "admin":
        raise PermissionDenied(
            f"{call.principal.name} may not {call.method} {call.endpoint} through Atelier: "
            "this MLflow endpoint is for admins"
        )


Rule = Callable[[Call], None]

_MODEL = r"mlflow/registered-models/"
_VERSION = r"mlflow/model-versions/"
_TRACE_ID = r"([^/]+)"

#: ``(methods, endpoint pattern, rule)``: the first match decides. Endpoints are matched after
#: ``/mlflow/(ajax-)api/X.Y/``; the other routes by their whole path.
RULES: list[tuple[frozenset[str], re.Pattern[str], Rule]] = [
    (frozenset(m.split()), re.compile(p), r)
    for m, p, r in [
        # reads that MLflow takes as POST
        ("POST", r"mlflow/experiments/search", _read),
        ("POST", r"mlflow/experiments/search-datasets", _read),
        ("POST", r"mlflow/runs/search", _read),
        ("POST", r"mlflow/logged-models/search", _read),
        ("POST", r"mlflow/registered-models/get-latest-versions", _read),
        ("POST", r"mlflow/traces/search", _read),
        ("POST", r"mlflow/traces/batchGetInfos", _read),
        ("POST", r"mlflow/traces/metrics", _read),
        ("POST", r"mlflow/traces/calculate-filter-correlation", _read),
        ("POST", r"mlflow/artifacts/presigned-download-url", _read),
        ("POST", r"mlflow/metrics/get-history-bulk-interval", _read),
        ("POST", r"mlflow/datasets/search", _read),
        ("POST", r"mlflow/issues/search", _read),
        ("POST", r"mlflow/prompt-optimization/jobs/search", _read),
        # experiments
        ("POST", r"mlflow/experiments/create", _experiment_create),
        ("POST", r"mlflow/experiments/delete", _experiment_write("delete")),
        ("POST", r"mlflow/experiments/restore", _experiment_write("restore")),
        ("POST", r"mlflow/experiments/update", _experiment_rename),
        ("POST", r"mlflow/experiments/set-experiment-tag", _experiment_write("tag", tags=True)),
        (
            "POST DELETE",
            r"mlflow/experiments/delete-experiment-tag",
            _experiment_write("untag", tags=True),
        ),
        # runs
        ("POST", r"mlflow/runs/create", _run_create),
        ("POST", r"mlflow/runs/delete", _run_write("delete")),
        ("POST", r"mlflow/runs/restore", _run_write("restore")),
        ("POST", r"mlflow/runs/update", _run_write("update")),
        ("POST", r"mlflow/runs/set-tag", _run_write("tag")),
        ("POST", r"mlflow/runs/delete-tag", _run_write("untag")),
        ("POST", r"mlflow/runs/log-batch", _run_write("log to")),
        ("POST", r"mlflow/runs/log-metric", _run_write("log a metric to")),
        ("POST", r"mlflow/runs/log-parameter", _run_write("log a parameter to")),
        ("POST", r"mlflow/runs/log-model", _run_write("log a model to")),
        ("POST", r"mlflow/runs/log-inputs", _run_write("log inputs to")),
        ("POST", r"mlflow/runs/outputs", _run_write("log outputs of")),
        ("POST", r"mlflow/artifacts/presigned-upload-url", _presigned_upload),
        ("POST", r"mlflow/upload-artifact", _upload_artifact),
        # artifacts (the proxied artifact store)
        ("PUT DELETE", r"mlflow-artifacts/artifacts/(.+)", _artifact_path),
        ("POST", r"mlflow-artifacts/mpu/(?:create|complete|abort)/(.+)", _artifact_path),
        # logged models
        ("POST", r"mlflow/logged-models", _logged_model_create),
        ("PATCH DELETE", r"mlflow/logged-models/([^/]+)", _logged_model_write("change")),
        ("POST", r"mlflow/logged-models/([^/]+)/params", _logged_model_write("log params to")),
        ("PATCH", r"mlflow/logged-models/([^/]+)/tags", _logged_model_write("tag")),
        ("DELETE", r"mlflow/logged-models/([^/]+)/tags/.+", _logged_model_write("untag")),
        # traces
        ("POST", r"mlflow/traces", _trace_start),
        ("POST", r"mlflow/traces/delete-traces", _experiment_config("delete traces of")),
        ("POST", r"mlflow/traces/link-to-run", _traces_link_to_run),
        ("POST", r"mlflow/traces/link-prompts", _trace_write("link prompts to")),
        ("PATCH", r"mlflow/traces/" + _TRACE_ID, _trace_write("end")),
        ("PATCH DELETE", r"mlflow/traces/" + _TRACE_ID + "/tags", _trace_write("tag")),
        ("POST", r"mlflow/traces/" + _TRACE_ID + "/assessments", _trace_write("assess")),
        (
            "PATCH DELETE",
            r"mlflow/traces/" + _TRACE_ID + "/assessments/[^/]+",
            _trace_write("change an assessment of"),
        ),
        # scorers (an experiment's evaluation setup)
        ("POST", r"mlflow/scorers/register", _experiment_config("register a scorer in")),
        ("DELETE", r"mlflow/scorers/delete", _experiment_config("delete a scorer of")),
        # registered models, versions, aliases (prompts are registered models too)
        ("POST", _MODEL + "create", _model_create),
        ("POST", _MODEL + "rename", _model_rename),
        ("PATCH", _MODEL + "update", _model_write("describe")),
        ("DELETE", _MODEL + "delete", _model_delete),
        ("POST", _MODEL + "set-tag", _model_write("tag", MODEL_TAGS)),
        ("DELETE", _MODEL + "delete-tag", _model_write("untag", MODEL_TAGS)),
        ("POST", _MODEL + "alias", _alias_set),
        ("DELETE", _MODEL + "alias", _alias_delete),
        ("POST", _VERSION + "create", _model_write("add a version to")),
        ("PATCH", _VERSION + "update", _model_write("describe a version of")),
        ("POST", _VERSION + "transition-stage", _model_write("change the stage of")),
        ("DELETE", _VERSION + "delete", _version_delete),
        ("POST", _VERSION + "set-tag", _model_write("tag a version of", VERSION_TAGS)),
        ("DELETE", _VERSION + "delete-tag", _model_write("untag a version of", VERSION_TAGS)),
    ]
]
#: Routes outside ``/mlflow/(ajax-)api/X.Y/``, by their whole path.
OTHER_RULES: list[tuple[frozenset[str], re.Pattern[str], Rule]] = [
    (frozenset({"GET", "POST"}), re.compile(r"/mlflow/graphql"), _graphql),
    (frozenset({"POST"}), re.compile(r"/mlflow/v1/traces"), _otlp_traces),
]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOTHING: re.Match[str] = re.compile("").match("")  # type: ignore[assignment]


def rule_for(method: str, path: str) -> tuple[Rule, str, re.Match[str]] | None:
    """The rule for ``method path`` (None: a read that needs none)."""
    if api := _API.match(path):
        endpoint = api.group(1)
        for methods, pattern, rule in RULES:
            if method in methods and (match := pattern.fullmatch(endpoint)):
                return rule, endpoint, match
    for methods, pattern, rule in OTHER_RULES:
        if method in methods and (match := pattern.fullmatch(path)):
            return rule, path, match
    if method in READ_METHODS:
        return None
    endpoint = api.group(1) if api else path
    return _admins_only, endpoint, _NOTHING


def authorize(
    owners: Ownership,
    principal: Principal,
    method: str,
    path: str,
    body: Any,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
) -> Decision:
    """Refuse the request unless ``principal`` may make it (PermissionDenied, or NotFound /
    InvalidInput for an object or identifier that is not there); the body to send instead
    (attribution forced) and what to audit."""
    found = rule_for(method, path)
    if found is None:
        return Decision()
    rule, endpoint, match = found
    call = Call(principal, owners, method, endpoint, match, body, query, headers)
    rule(call)
    return Decision(json.dumps(call.body).encode() if call.changed else None, call.audit)


class _NeedsLookup(Exception):
    """A rule tried on memory alone needed MLflow or the database."""


class _NoDatabase:
    def session(self) -> Any:
        raise _NeedsLookup


def _no_client() -> Any:
    raise _NeedsLookup


def _memory_of(owners: Ownership) -> Ownership:
    """``owners`` answering only from what it remembers (the same caches, which it reads and
    never fills): any lookup raises :class:`_NeedsLookup`."""
    memory = copy.copy(owners)
    memory._client = _no_client
    memory.db = _NoDatabase()  # type: ignore[assignment]
    return memory


async def check_owners(request: Request, principal: Principal, path: str, body: Any) -> Decision:
    """The gateway's hook: :func:`authorize` this request (``path`` decoded, ``body`` the
    decoded JSON or None), off the event loop.

    Logging to a run whose owner and experiment are remembered (every call after the first,
    for its owner or an admin) is decided on the event loop: the same rule on the same facts,
    without a trip to a worker thread; anything that needs a lookup goes there as before.
    """
    found = rule_for(request.method, path)
    if found is None:
        return Decision()
    wb = workbench(request)
    owners: Ownership = wb.models.owners
    query = request.query_params.multi_items()
    decision: Decision | None = None
    if getattr(found[0], "from_memory", False):
        with contextlib.suppress(_NeedsLookup):
            decision = authorize(
                _memory_of(owners), principal, request.method, path, body, query, request.headers
            )
    if decision is None:
        decision = await run_in_threadpool(
            authorize, owners, principal, request.method, path, body, query, request.headers
        )
    decision.log, decision.actor, decision.client = wb.audit, principal.name, client(request)
    return decision
