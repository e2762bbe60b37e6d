"""The SQL editor on the wire: saved queries and the schema tree the editor completes from.

``/sql/saved`` routes take and answer these; ``/sql/schema`` answers :class:`SqlSchema`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SavedQueryCreate(BaseModel):
    """``POST /sql/saved``: a new query of the caller's."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=1000, description="1 to 100 characters, no control characters")
    sql: str = Field(max_length=1_000_000)
    shared: bool = False


class SavedQueryChange(BaseModel):
    """``PATCH /sql/saved/{id}``: what to change (its owner or an admin)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=1000)
    sql: str | None = Field(default=None, max_length=1_000_000)
    shared: bool | None = None


class SavedQueryInfo(BaseModel):
    """One saved query: the caller's own, or a shared one."""

    id: int
    name: str
    sql: str
    owner: str
    shared: bool
    created_at: str
    updated_at: str


class SchemaColumn(BaseModel):
    name: str
    type: str


class SchemaTable(BaseModel):
    name: str
    kind: str = Field(description="table (warehouse) or source")
    columns: list[SchemaColumn]


class SchemaNode(BaseModel):
    name: str = Field(description="a warehouse schema (bank) or a source's (source.schema)")
    tables: list[SchemaTable]


class SqlSchema(BaseModel):
    """``GET /sql/schema``: every table a statement can read, by schema, with its columns."""

    schemas: list[SchemaNode]
