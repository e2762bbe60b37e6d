"""Errors the warehouse raises for users: what failed and what to do, never a credential."""

from __future__ import annotations

from collections.abc import Iterable

from atelier.errors import AtelierError, PermissionDenied


class WarehouseError(AtelierError):
    """The warehouse (DuckDB/DuckLake) could not do what was asked."""


class ExtensionNotInstalled(WarehouseError):
    """A DuckDB extension wheel is missing; nothing is ever downloaded at run time."""

    status_code = 500


class SourceError(WarehouseError):
    """An attached source (PostgreSQL, MySQL, SQLite, files) could not be attached."""


class QueryRefused(PermissionDenied):
    """User SQL tried something a restricted connection does not allow."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
