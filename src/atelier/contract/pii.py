"""Personal data on the wire: the PII tags of a table's columns and the changes people make.

``/api/v1/tables/{name}/pii`` answers :class:`TablePii`; ``PUT .../pii/{column}`` takes
:class:`PiiTagChange`, ``PATCH .../pii`` takes :class:`PiiTableChange`. The remote SDK client
parses its answers with these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: The kinds a tag may name (``atelier.services.pii.PiiKind``'s values, kept here so that the
#: contract needs no service).
PII_KINDS = (
    "person_name",
    "email",
    "phone",
    "postal_address",
    "date_of_birth",
    "national_id",
    "payment_card",
    "iban",
    "ip_address",
    "free_text_with_pii",
)


class ColumnPii(BaseModel):
    """A column's tag: ``suggested`` by the classifier or ``confirmed`` by a person (the table's
    owner or an admin: ``decided_by``)."""

    column: str
    kind: str = Field(description="one of " + ", ".join(PII_KINDS))
    state: Literal["suggested", "confirmed"]
    confidence: float | None = Field(
        default=None, description="the classifier's, 0 to 1; None for a tag set by hand"
    )
    evidence: str = ""
    decided_by: str | None = None
    decided_at: str | None = None


class TablePii(BaseModel):
    """The PII tags of one table, and whether it is marked as personal data as a whole."""

    table: str
    personal: bool = False
    marked_by: str | None = None
    columns: list[ColumnPii] = []


class PiiTagChange(BaseModel):
    """``PUT /tables/{name}/pii/{column}``: confirm a tag, or set another kind."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=32, description="one of " + ", ".join(PII_KINDS))


class PiiTableChange(BaseModel):
    """``PATCH /tables/{name}/pii``: mark (or unmark) the whole table as personal data."""

    model_config = ConfigDict(extra="forbid")
    personal: bool
