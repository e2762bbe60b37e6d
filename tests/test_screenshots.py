"""The portal's pictures (``make screenshots``, docs/screenshots.py): every picture that
docs/portal.md links exists and is a 1400x900 PNG, and no picture in docs/images is left
unlinked (a page dropped from the script or the docs leaves no stale picture behind)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
LINK = re.compile(r"\]\((images/[^)\s#]+)\)")


def linked() -> set[str]:
    return set(LINK.findall((DOCS / "portal.md").read_text()))


def test_every_linked_picture_exists_at_1400_by_900() -> None:
    pictures = linked()
    assert "images/home.png" in pictures, "docs/portal.md links no screenshots"
    for name in sorted(pictures):
        path = DOCS / name
        assert path.is_file(), f"docs/portal.md links {name}, which is missing: make screenshots"
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert struct.unpack(">II", head[16:24]) == (1400, 900), f"{name} is not 1400x900"


def test_every_picture_is_linked() -> None:
    pictures = {f"images/{path.name}" for path in (DOCS / "images").iterdir()}
    assert pictures - linked() == set(), "pictures in docs/images that docs/portal.md never links"
