"""Models: the MLflow model registry, and a model card per registered model.

The card gathers what a reviewer asks before trusting a model: its signature (inputs and
outputs), the metrics of the run that produced it, the warehouse table versions it was trained
on, its locked environment, who registered it and when, and its aliases (``champion``, …).
From the card, a scientist publishes a generated app for an alias or a version ("Publish as
app"), shared with every logged-in user or not yet, and points an alias at a version or
removes it (the registry service decides who may: a protected alias, one an app serves, moves
only for the model's owner or an admin).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError, InvalidInput, NotFound
from atelier.server.api.deps import client
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.tracking import TrackingServer
from atelier.services.tracking.experiments import (
    LOCK_ARTIFACT,
    artifact_files,
    artifact_text,
    data_versions,
    packages_of,
    run_summary,
    when,
)
from atelier.services.tracking.experiments import READERS as ROLES
from atelier.services.tracking.locations import check_relative
from atelier.services.tracking.personal import pii_columns
from atelier.services.tracking.runs import run_git as _git
from atelier.services.tracking.runs import run_lineage as _lineage

router = APIRouter()

REGISTERED_BY_TAG = "atelier.registered_by"
LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
#: Where :func:`atelier.evaluate` logs its plots in a run's artifacts.
EVALUATION_FOLDER = "evaluation"
PLOT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def _server(request: Request) -> TrackingServer:
    server: TrackingServer = request.app.state.workbench.tracking_server
    return server


def aliases_of(model: dict[str, Any]) -> dict[str, str]:
    """``{alias: version}``."""
    return {a["alias"]: str(a["version"]) for a in model.get("aliases", [])}


@router.get("/models")
def models(request: Request, _: Principal = allow(*ROLES)) -> HTMLResponse:
    server = _server(request)
    found = server.api("GET", "registered-models/search", params={"max_results": 1000})
    rows = []
    for model in found.get("registered_models", []):
        latest = max((int(v["version"]) for v in model.get("latest_versions", [])), default=None)
        rows.append(
            {
                "name": model["name"],
                "description": model.get("description", ""),
                "latest": latest,
                "aliases": aliases_of(model),
                "updated": when(model.get("last_updated_timestamp")),
            }
        )
    rows.sort(key=lambda m: m["updated"], reverse=True)
    return render(request, "models/list.html", models=rows)


@router.post("/models/{name}/publish")
async def publish_app(
    request: Request, name: str, principal: Principal = allow(*ROLES)
) -> Response:
    """Publish a generated app for one version of model ``name`` (by alias or number),
    optionally shared with every logged-in user, and open it."""
    form = await request.form()
    values = {k: v for k in ("app", "target", "title") if isinstance(v := form.get(k), str)}
    everyone = form.get("everyone") is not None
    wb = request.app.state.workbench
    app_name, target = values.get("app", "").strip(), values.get("target", "").strip()
    kind, _, which = target.partition(":")
    try:
        if kind == "alias" and which:
            model = f"{name}@{which}"
        elif kind == "version" and which.isdigit():
            model = f"{name}/{which}"
        else:
            raise InvalidInput("choose the alias or version the app serves")
        app = await run_in_threadpool(
            lambda: wb.apps.create(
                app_name,
                model,
                principal,
                title=values.get("title", "").strip(),
                client=client(request),
            )
        )
    except AtelierError as error:
        values["everyone"] = "on" if everyone else ""
        return await run_in_threadpool(
            _card_page, request, name, None, str(error), values, error.status_code
        )
    if everyone:
        wb.apps.share(app.name, principal, everyone=True, client=client(request))
    return RedirectResponse(app.url, status_code=303)


@router.post("/models/{name}/aliases")
async def change_alias(
    request: Request, name: str, principal: Principal = allow(*ROLES)
) -> Response:
    """Point an alias of model ``name`` at a version, or remove it (``remove`` set)."""
    form = await request.form()
    alias = str(form.get("alias") or "").strip()
    version = str(form.get("version") or "").strip()
    remove = form.get("remove") is not None
    registry = request.app.state.workbench.models
    try:
        if remove:
            await run_in_threadpool(
                registry.delete_alias, name, alias, by=principal, client=client(request)
            )
        else:
            if not version.isdigit():
                raise InvalidInput(f"choose the version {name}@{alias} points at")
            await run_in_threadpool(
                registry.set_alias,
                name,
                alias,
                int(version),
                by=principal,
                client=client(request),
            )
    except AtelierError as error:
        return await run_in_threadpool(
            _card_page,
            request,
            name,
            None,
            None,
            None,
            error.status_code,
            {"error": str(error), "alias": alias, "version": version},
        )
    shown = f"?version={version}" if version and not remove else ""
    return RedirectResponse(f"/models/{quote(name, safe='')}{shown}", status_code=303)


@router.get("/models/{name:path}/plots")
def evaluation_plot(
    request: Request, name: str, version: str, path: str, _: Principal = allow(*ROLES)
) -> Response:
    """One evaluation plot (``evaluation/….png`` or ``.svg``, as :func:`atelier.evaluate`
    logs them) of the run that produced version ``version`` of model ``name``; nothing else of
    the run's artifacts."""
    if not version.isdigit():
        raise InvalidInput(f"version must be a number, not {version!r}")
    check_relative("plot", path)
    media = PLOT_TYPES.get(path.rpartition(".")[2].lower())
    if not path.startswith(EVALUATION_FOLDER + "/") or media is None:
        raise InvalidInput(f"{path!r} is no evaluation plot: evaluation/*.png or *.svg")
    server = _server(request)
    found = server.api("GET", "model-versions/get", params={"name": name, "version": version})[
        "model_version"
    ]
    run_id = found.get("run_id")
    response = (
        server.request("GET", "/get-artifact", params={"run_uuid": run_id, "path": path})
        if run_id
        else None
    )
    if response is None or response.status_code != 200:
        raise NotFound(f"{name} version {version} has no plot {path!r}")
    return Response(
        response.content,
        media_type=media,
        headers={
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
            # An SVG is a document: no script of its own, ever.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


@router.get("/models/{name:path}")
def model_card(
    request: Request,
    name: str,
    version: str | None = None,
    alias: str | None = None,
    _: Principal = allow(*ROLES),
) -> HTMLResponse:
    return _card_page(request, name, version, came_from_alias=alias)


def _card_page(
    request: Request,
    name: str,
    version: str | None,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    alias_form: dict[str, str] | None = None,
    came_from_alias: str | None = None,
) -> HTMLResponse:
    server = _server(request)
    try:
        model = server.api("GET", "registered-models/get", params={"name": name})[
            "registered_model"
        ]
    except AtelierError as exc:
        if exc.status_code != 404:
            raise
        return render(
            request,
            "models/list.html",
            models=[],
            error=f"no registered model named {name!r}",
            status_code=404,
        )
    versions = server.api(
        "GET",
        "model-versions/search",
        params={"filter": f"name='{_quoted(name)}'", "max_results": 1000},
    ).get("model_versions", [])
    versions.sort(key=lambda v: int(v["version"]), reverse=True)
    aliases = aliases_of(model)
    by_version: dict[str, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(number, []).append(alias)
    if version is None and came_from_alias in aliases:
        version = aliases[came_from_alias]
    else:
        came_from_alias = None
    chosen_number = (
        version or aliases.get("champion") or (versions[0]["version"] if versions else None)
    )
    chosen = next((v for v in versions if str(v["version"]) == str(chosen_number)), None)
    card = _card(server, chosen, name) if chosen else None
    if card is not None:
        card["captured"] = _environment(request, name, card["version"])
        card["runtime"] = _runtime(request, name, card["version"])
        card["image"] = _image(request, name, card["version"])
        _table_numbers(request, card)
    return render(
        request,
        "models/card.html",
        model=model,
        description=model.get("description", ""),
        versions=[
            {
                "version": str(v["version"]),
                "created": when(v.get("creation_timestamp")),
                "status": v.get("status", ""),
                "run_id": v.get("run_id", ""),
                "aliases": by_version.get(str(v["version"]), []),
                "registered_by": _tags(v).get(REGISTERED_BY_TAG, ""),
            }
            for v in versions
        ],
        chosen=str(chosen["version"]) if chosen else None,
        card=card,
        aliases=by_version,
        publish={
            "app": _app_name(name),
            "targets": [(f"alias:{a}", f"@{a} (version {v})") for a, v in sorted(aliases.items())]
            + [(f"version:{v['version']}", f"version {v['version']}") for v in versions],
            **_publish_default(aliases, chosen, version, came_from_alias),
            "alias_versions": aliases,
            "error": error,
            **(values or {}),
        },
        alias_form=alias_form or {},
        model_owner=_tags(model).get(REGISTERED_BY_TAG),
        status_code=status_code,
    )


def _publish_default(
    aliases: dict[str, str],
    chosen: dict[str, Any] | None,
    version: str | None,
    came_from_alias: str | None,
) -> dict[str, str | None]:
    """What "Publish as app" serves unless the user picks otherwise: the alias the user came
    from (``?alias=``), else the version they opened (``?version=``), else the alias the card
    shows (``champion``), else the version shown; and the version that serves today."""
    if chosen is None:
        return {"selected": None, "serves": None}
    number = str(chosen["version"])
    if came_from_alias:
        return {"selected": f"alias:{came_from_alias}", "serves": number}
    if version is None and aliases.get("champion") == number:
        return {"selected": "alias:champion", "serves": number}
    return {"selected": f"version:{number}", "serves": number}


def _app_name(model: str) -> str:
    """A suggested app name for ``model``: what app names allow (``/apps/NAME``)."""
    base = re.sub(r"[^a-z0-9_-]+", "-", model.lower()).strip("-_") or "model"
    return (base if base[0].isalpha() else f"m-{base}")[:63]


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _tags(version: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in version.get("tags", [])}


def _card(server: TrackingServer, version: dict[str, Any], name: str) -> dict[str, Any]:
    run: dict[str, Any] | None = None
    if version.get("run_id"):
        try:
            run = run_summary(
                server.api("GET", "runs/get", params={"run_id": version["run_id"]})["run"]
            )
        except AtelierError:
            run = None
    lock = artifact_text(server, run["id"], LOCK_ARTIFACT) if run else None
    return {
        "version": str(version["version"]),
        "source": version.get("source", ""),
        "created": when(version.get("creation_timestamp")),
        "registered_by": _tags(version).get(REGISTERED_BY_TAG)
        or (run["user"] if run else version.get("user_id", "")),
        "run": run,
        "metrics": run["metrics"] if run else {},
        "params": run["params"] if run else {},
        "trained_by": run["user"] if run else "",
        "data_versions": data_versions(run["tags"]) if run else [],
        "personal_data": pii_columns(run["tags"]) if run else {},
        "packages": packages_of(server, run["id"]) if run else None,
        "lock": lock,
        "signature": _signature(server, version, run),
        "git": _git(run["tags"]) if run else {},
        "lineage": _lineage(run["tags"]) if run else {},
        "plots": _plots(server, run["id"], name, str(version["version"])) if run else [],
    }


def _table_numbers(request: Request, card: dict[str, Any]) -> None:
    """Give each table the card names the table's own version number for the lake snapshot
    the run recorded (``number``, None when the table is gone), as the table's page lists
    it; the snapshot stays as ``version``."""
    catalog = request.app.state.workbench.catalog
    found: dict[tuple[str, int], int | None] = {}

    def number(table: str, snapshot: Any) -> int | None:
        if not isinstance(snapshot, int) or isinstance(snapshot, bool) or not table:
            return None
        if (table, snapshot) not in found:
            at = catalog.version_at(table, snapshot)
            found[table, snapshot] = at.number if at else None
        return found[table, snapshot]

    for read in card.get("data_versions") or []:
        read["number"] = number(str(read.get("table") or ""), read.get("version"))
    training = (card.get("lineage") or {}).get("training_set")
    if training and training.get("table"):
        training["number"] = number(training["table"], training.get("version"))


#: The plots a reviewer reads first, first.
PLOT_ORDER = (
    "roc_curve",
    "pr_curve",
    "confusion_matrix",
    "calibration",
    "residuals",
    "predicted_vs_actual",
    "residual_histogram",
)


def _plot_order(path: str) -> tuple[str, int, str]:
    folder, _, file = path.rpartition("/")
    stem = file.rpartition(".")[0]
    return folder, PLOT_ORDER.index(stem) if stem in PLOT_ORDER else len(PLOT_ORDER), file


def _plots(server: TrackingServer, run_id: str, name: str, version: str) -> list[dict[str, str]]:
    """The evaluation plots the run logged, with the portal's link to each."""
    try:
        files = artifact_files(server, run_id, EVALUATION_FOLDER)
    except AtelierError:
        return []
    plots = []
    for path in sorted(files, key=_plot_order):
        stem, _, extension = path.rpartition("/")[2].rpartition(".")
        if extension.lower() in PLOT_TYPES:
            title = (
                stem.replace("_", " ").capitalize().replace("Roc ", "ROC ").replace("Pr ", "PR ")
            )
            where = path.removeprefix(EVALUATION_FOLDER + "/").rpartition("/")[0]
            plots.append(
                {
                    "title": f"{title} ({where})" if where else title,
                    "url": f"/models/{quote(name, safe='')}/plots?"
                    + urlencode({"version": version, "path": path}),
                }
            )
    return plots


def _environment(request: Request, name: str, version: str) -> dict[str, Any]:
    """The version's captured environment and what its files import unpinned (empty when the
    files cannot be read: the rest of the card still shows)."""
    try:
        found: dict[str, Any] = request.app.state.workbench.models.environment(
            f"{name}/{int(version)}"
        )
    except (AtelierError, OSError, ValueError):
        return {}
    return found


def _runtime(request: Request, name: str, version: str) -> dict[str, Any]:
    """Where the version runs when served and, in its own environment, how its build goes."""
    from atelier.services.tracking.references import parse_reference

    try:
        found: dict[str, Any] = request.app.state.workbench.serving.runtime(
            parse_reference(f"{name}/{int(version)}")
        )
    except Exception as error:  # the rest of the card still shows
        return {"state": "failed", "message": str(error)}
    return found


def _image(request: Request, name: str, version: str) -> dict[str, Any]:
    """The version's container image: built, its last container test, pushed (see
    docs/containers.md); empty when none was built or it cannot be read."""
    try:
        found: dict[str, Any] = request.app.state.workbench.containers.status(
            f"{name}/{int(version)}"
        )
    except (AtelierError, OSError, ValueError):
        return {}
    return found


def _signature(
    server: TrackingServer, version: dict[str, Any], run: dict[str, Any] | None
) -> dict[str, list[dict[str, str]]] | None:
    """Inputs and outputs from the model's ``MLmodel`` file, if it has a signature."""
    text = _mlmodel(server, version, run)
    if text is None:
        return None
    import yaml

    try:
        spec = yaml.safe_load(text) or {}
        signature = spec.get("signature") or {}
        result = {}
        for part in ("inputs", "outputs"):
            raw = signature.get(part)
            columns = json.loads(raw) if isinstance(raw, str) else []
            result[part] = [
                {
                    "name": str(c.get("name", "")),
                    "type": _column_type(c) + ("" if c.get("required", True) else "?"),
                }
                for c in columns
                if isinstance(c, dict)
            ]
    except (yaml.YAMLError, ValueError, AttributeError):
        return None
    return result if any(result.values()) else None


def _column_type(column: dict[str, Any]) -> str:
    """``long``, ``string``…; a tensor as ``tensor float64 (-1, 4)``."""
    spec = column.get("tensor-spec")
    if column.get("type") == "tensor" and isinstance(spec, dict):
        shape = tuple(spec.get("shape") or ())
        return f"tensor {spec.get('dtype', '')} {shape}"
    return str(column.get("type", ""))


def _mlmodel(
    server: TrackingServer, version: dict[str, Any], run: dict[str, Any] | None
) -> str | None:
    source = urlsplit(version.get("source", ""))
    # MLflow 3 keeps a model's files with its logged model: the version's source is
    # ``models:/m-<id>`` (its REST answer carries no ``model_id`` field).
    model_id = version.get("model_id") or (
        source.path.strip("/")
        if source.scheme == "models" and LOGGED_MODEL_ID.fullmatch(source.path.strip("/"))
        else None
    )
    if model_id:
        check_relative("model id", model_id)
        response = server.request(
            "GET",
            f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
            params={"artifact_file_path": "MLmodel"},
        )
        if response.status_code == 200:
            text: str = response.text
            return text
    if source.scheme == "runs" and run is not None:
        _, _, sub = source.path.strip("/").partition("/")
        return artifact_text(server, run["id"], f"{sub}/MLmodel" if sub else "MLmodel")
    return None
