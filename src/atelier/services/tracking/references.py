"""Model references: the one way Atelier names a registered model version.

``NAME@alias`` (the version an alias points at), ``NAME/3`` (version 3) or ``NAME`` (the
newest version); ``models:/`` in front is allowed. The CLI, the SDK, serving, the apps and the
REST API (``/models/NAME/predict?alias=…`` or ``?version=…``) all parse them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atelier.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_REFERENCE = re.compile(r"(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))?")


@dataclass(frozen=True)
class Reference:
    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        return self.name if self.version is None else f"{self.name}/{self.version}"


def parse_reference(
    text: str, *, alias: str | None = None, version: int | None = None
) -> Reference:
    """``NAME@alias``, ``NAME/3`` or ``NAME``; ``models:/`` in front is allowed. ``alias`` or
    ``version`` given apart (a query string's) complete a bare ``NAME``."""
    raw = text.strip().removeprefix("models:/") if isinstance(text, str) else ""
    match = _REFERENCE.fullmatch(raw)
    if not match:
        raise InvalidInput(
            f"{text!r} is not a model reference: write NAME@alias, NAME/VERSION or NAME"
        )
    name = check_name(match["name"])
    given_alias = match["alias"]
    given_version = int(match["version"]) if match["version"] else None
    if alias is not None and given_alias is not None and alias != given_alias:
        raise InvalidInput(f"model {text!r}: give the alias once (in the name or as alias=)")
    if version is not None and given_version is not None and version != given_version:
        raise InvalidInput(f"model {text!r}: give the version once (in the name or as version=)")
    alias = given_alias if given_alias is not None else alias
    version = given_version if given_version is not None else version
    if alias and version is not None:
        raise InvalidInput(f"model {text!r}: give an alias or a version, not both")
    if version is not None and version < 1:
        raise InvalidInput(f"model version must be 1 or more (got {version})")
    return Reference(name, check_alias(alias) if alias else None, version)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"model name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return name


def check_alias(alias: str) -> str:
    if (
        not isinstance(alias, str)
        or not _ALIAS.fullmatch(alias)
        or alias.lower() == "latest"
        or re.fullmatch(r"[vV]\d+", alias)
    ):
        raise InvalidInput(
            f"alias {alias!r}: use a word such as champion or challenger (letters, digits, "
            "'_' and '-'; not 'latest' nor v<number>)"
        )
    return alias
