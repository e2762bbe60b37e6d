"""Docs that tests keep honest."""

import re
from pathlib import Path

from atelier.cli.reference import render
from atelier.config.settings import SECTIONS
from atelier.server.security import app_routes

DOCS = Path(__file__).parent.parent / "docs"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == render(), "run `make docs`"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    for section, model in SECTIONS.items():
        assert f"## `[{section}]`" in text
        for key in model.model_fields:
            assert f"| `{key}` |" in text, f"{section}.{key} is not in docs/configuration.md"


_METHODS = r"(?:GET|POST|PUT|PATCH|DELETE)"
_ITEM = re.compile(rf"^((?:{_METHODS}, )*{_METHODS}) (.*)$")


def documented_routes(text: str) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of each route that docs/api.md's tables name in their first column.

    In a row, an item without methods takes the previous item's; a path written ``…/x`` is
    the row's first full path followed by ``/x``; query strings and ``[...]`` are dropped.
    """
    found: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        items = re.findall(r"`([^`]*)`", line.split(" | ")[0])
        full = [m.group(0) for item in items if (m := re.search(r"/api/v1/[^\s\[?]*", item))]
        methods: list[str] = []
        for item in items:
            if match := _ITEM.match(item):
                methods, path = match.group(1).split(", "), match.group(2)
            else:
                path = item
            path = re.split(r"[\[?]", path)[0].strip()
            if path.startswith("…") and full:
                path = full[0] + path[1:]
            found.update((method, path) for method in methods)
    return found


def test_every_api_route_is_in_the_api_reference(client) -> None:  # type: ignore[no-untyped-def]
    documented = documented_routes((DOCS / "api.md").read_text())
    missing = sorted(
        f"{method} {route.path}"
        for route in app_routes(client.app)
        if route.path.startswith("/api/v1/")
        for method in route.methods - {"HEAD", "OPTIONS"}
        if (method, route.path) not in documented
    )
    assert missing == [], "add these routes to docs/api.md"
