"""Reading a project's definitions: ``features.py`` (Python) or ``features.yaml`` (YAML).

A Python file is run as a module; every :class:`Entity`, :class:`FeatureView` and
:class:`FeatureService` it leaves at module level is collected, and ``PROJECT = "name"`` names
the project. A YAML file holds ``project``, ``entities``, ``views`` and ``services`` lists
whose items have the fields of those classes (durations as text, e.g. ``ttl: 30d``).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from atelier.errors import InvalidInput
from atelier.services.features.definitions import (
    Aggregation,
    Definitions,
    Derived,
    Entity,
    FeatureService,
    FeatureView,
)

CANDIDATES = ("features.py", "features.yaml", "features.yml")


def find(path: str | Path | None) -> Path:
    """The definitions file at ``path`` (a file, or a folder holding one of the candidates)."""
    target = Path(path or ".").expanduser()
    if target.is_dir():
        for name in CANDIDATES:
            if (target / name).is_file():
                return target / name
        raise InvalidInput(f"{target}: no {', '.join(CANDIDATES)} here")
    if not target.is_file():
        raise InvalidInput(f"{target}: no such file")
    return target


def load(path: str | Path | None) -> Definitions:
    """The definitions in the file at ``path``; the project defaults to its folder's name."""
    file = find(path)
    if file.suffix == ".py":
        definitions = _python(file)
    elif file.suffix in (".yaml", ".yml"):
        definitions = _yaml(file)
    else:
        raise InvalidInput(f"{file}: definitions are a .py or .yaml file")
    definitions.project = definitions.project or file.resolve().parent.name
    definitions.check()
    return definitions


def _python(file: Path) -> Definitions:
    try:
        namespace = runpy.run_path(str(file), run_name="atelier_features")
    except InvalidInput as error:
        raise InvalidInput(f"{file}: {error}") from None
    except Exception as error:
        raise InvalidInput(f"{file}: {type(error).__name__}: {error}") from error
    found = Definitions(project=namespace.get("PROJECT"))
    for value in namespace.values():
        if isinstance(value, Entity):
            found.entities.append(value)
        elif isinstance(value, FeatureView):
            found.views.append(value)
        elif isinstance(value, FeatureService):
            found.services.append(value)
    return found


def _yaml(file: Path) -> Definitions:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise InvalidInput(f"{file}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{file}: expected a mapping with entities, views and services")
    unknown = set(data) - {"project", "entities", "views", "services"}
    if unknown:
        raise InvalidInput(f"{file}: unknown sections {sorted(unknown)}")
    try:
        return from_dict(data)
    except InvalidInput as error:
        raise InvalidInput(f"{file}: {error}") from None


def from_dict(data: dict[str, Any]) -> Definitions:
    """Definitions from plain data (parsed YAML or an API request). Python features are not
    accepted here: they can only come from a project's ``features.py``."""
    return Definitions(
        entities=[_make(Entity, item, "entity") for item in data.get("entities") or []],
        views=[_view(item) for item in data.get("views") or []],
        services=[_make(FeatureService, item, "service") for item in data.get("services") or []],
        project=data.get("project"),
    )


def to_dict(definitions: Definitions) -> dict[str, Any]:
    """The plain-data form :func:`from_dict` reads (what the API's ``apply`` takes)."""
    return {
        "project": definitions.project,
        "entities": [e.spec() for e in definitions.entities],
        # Left out rather than empty: "" is no duration.
        "views": [
            {k: v for k, v in view.spec().items() if v not in (None, "")}
            for view in definitions.views
        ],
        "services": [s.spec() for s in definitions.services],
    }


def _make(cls: Any, item: Any, what: str) -> Any:
    if not isinstance(item, dict):
        raise InvalidInput(f"each {what} must be a mapping, not {item!r}")
    try:
        return cls(**item)
    except TypeError as error:
        raise InvalidInput(f"{what} {item.get('name')!r}: {error}") from None


def _view(item: Any) -> FeatureView:
    if not isinstance(item, dict):
        raise InvalidInput(f"each view must be a mapping, not {item!r}")
    item = dict(item)
    features = []
    for feature in item.pop("features", []) or []:
        if isinstance(feature, dict):
            if "python" in feature:
                raise InvalidInput(
                    f"feature {feature.get('name')!r}: Python features can only be defined in "
                    "a project's features.py"
                )
            features.append(_make(Derived, feature, "feature"))
        else:
            features.append(feature)
    aggregations = [_make(Aggregation, a, "aggregation") for a in item.pop("aggregations", [])]
    view: FeatureView = _make(
        FeatureView, item | {"features": features, "aggregations": aggregations}, "view"
    )
    return view
