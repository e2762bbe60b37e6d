"""What the clients hand back: data in the format asked for, answers in the contract's shape.

Used by the clients and by their namespaces alike; it sits below both, so that a namespace
does not import the client that hands it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from atelier.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow
    from pydantic import BaseModel

Format = Literal["pandas", "polars", "arrow"]


def shaped(model: type[BaseModel], data: Any) -> Any:
    """``data`` (a dict, or a list of them) as the contract's ``model`` describes it: checked,
    and in its JSON form, so that both clients answer the same shapes."""
    if isinstance(data, list):
        return [model.model_validate(item).model_dump(mode="json", by_alias=True) for item in data]
    return model.model_validate(data).model_dump(mode="json", by_alias=True)


def convert(table: pyarrow.Table, format: Format) -> Any:
    if format == "arrow":
        return table
    if format == "pandas":
        return table.to_pandas()
    if format == "polars":
        import polars

        return polars.from_arrow(table)
    raise InvalidInput(f"format {format!r} is not one of pandas, polars, arrow")
