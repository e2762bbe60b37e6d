"""Attached sources on the wire. Secret fields (passwords, keys) go in with
:class:`NewSource` and never come back: a source shows only which of them are set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atelier.contract.data import TableColumn


class NewSource(BaseModel):
    """``POST /sources`` (admins): the connection is tested before anything is stored."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    type: str = Field(description="postgres, mysql, sqlite, parquet, csv or s3")
    options: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(
        default_factory=dict, description="password, key_id, secret: stored sealed"
    )
    description: str = Field(default="", max_length=10_000)


class SourceInfo(BaseModel):
    """A registered source as anyone may see it: no secret values."""

    name: str
    type: str
    options: dict[str, Any] = {}
    description: str = ""
    created_by: str | None = None
    created_at: str
    #: The names of the secret fields that are set (never their values).
    secret_fields: list[str] = []
    has_password: bool = False


class SourceTable(BaseModel):
    """A table or view of a source: ``name`` is ``source.schema.table``."""

    name: str
    source: str
    schema_: str = Field(alias="schema")
    table: str
    columns: list[TableColumn] = []

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
