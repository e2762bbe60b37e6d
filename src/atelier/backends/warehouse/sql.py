"""Quoting for the few SQL texts built from values (paths, names) that cannot be parameters."""

from __future__ import annotations


def literal(value: str) -> str:
    """A DuckDB string literal; DuckDB strings have no backslash escapes, only doubled quotes."""
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted DuckDB identifier (table, schema, alias)."""
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """``"a"."b"."c"`` from its parts."""
    return ".".join(ident(part) for part in parts)
