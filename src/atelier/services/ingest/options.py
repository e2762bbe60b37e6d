"""What a user may ask of an upload: the table name, the mode, and reading options.

Everything here is checked before any file is read, and every value that ends up in SQL is
either quoted as a literal or checked against a strict grammar (column types), because the
options arrive from web forms and command lines.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from atelier.errors import InvalidInput

Mode = Literal["create", "replace", "append"]
MODES: tuple[Mode, ...] = ("create", "replace", "append")

FORMATS = ("csv", "tsv", "parquet", "json", "xlsx", "arrow")

Ragged = Literal["error", "pad", "skip"]
#: What to do with CSV rows that have fewer or more values than the header: refuse the file
#: naming the line (the default), fill short rows with NULLs, or leave such rows out.
RAGGED: tuple[Ragged, ...] = ("error", "pad", "skip")
#: Decimal separators a CSV may use; None (not given) means detected.
DECIMALS = (".", ",")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Schemas DuckDB itself uses; a table there would be shadowed or refused.
_RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog", "temp"})

# Column types a user may choose; anything else is refused rather than put into SQL.
_SIMPLE_TYPES = {
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INTEGER",
    "INT": "INTEGER",
    "BIGINT": "BIGINT",
    "HUGEINT": "HUGEINT",
    "UTINYINT": "UTINYINT",
    "USMALLINT": "USMALLINT",
    "UINTEGER": "UINTEGER",
    "UBIGINT": "UBIGINT",
    "FLOAT": "FLOAT",
    "REAL": "FLOAT",
    "DOUBLE": "DOUBLE",
    "VARCHAR": "VARCHAR",
    "TEXT": "VARCHAR",
    "STRING": "VARCHAR",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP WITH TIME ZONE",
    "INTERVAL": "INTERVAL",
    "UUID": "UUID",
    "BLOB": "BLOB",
    "JSON": "JSON",
}
_TYPE = re.compile(
    r"(?P<base>[A-Z][A-Z ]*?)\s*(?:\(\s*(?P<p>\d{1,2})\s*(?:,\s*(?P<s>\d{1,2})\s*)?\))?"
    r"(?P<lists>(?:\[\])*)"
)

#: The types the portal offers in its per-column selects.
COMMON_TYPES = (
    "VARCHAR",
    "BIGINT",
    "INTEGER",
    "DOUBLE",
    "DECIMAL(18,2)",
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "TIME",
)


def column_type(text: str) -> str:
    """The canonical spelling of a column type, or :class:`InvalidInput` naming the choices."""
    match = _TYPE.fullmatch(" ".join(str(text).upper().split()))
    base = match and match.group("base").strip()
    if match is None or not base:
        raise _bad_type(text)
    lists = match.group("lists") or ""
    if base in ("DECIMAL", "NUMERIC"):
        # DuckDB's defaults: DECIMAL alone is DECIMAL(18,3); DECIMAL(p) has scale 0.
        precision = int(match.group("p") or 18)
        scale = 3 if match.group("p") is None else int(match.group("s") or 0)
        if not (1 <= precision <= 38 and 0 <= scale <= precision):
            raise InvalidInput(
                f"column type {text!r}: DECIMAL needs 1 <= precision <= 38 and "
                "0 <= scale <= precision, e.g. DECIMAL(18,2)"
            )
        return f"DECIMAL({precision},{scale}){lists}"
    if match.group("p") is not None or base not in _SIMPLE_TYPES:
        raise _bad_type(text)
    return _SIMPLE_TYPES[base] + lists


def _bad_type(text: str) -> InvalidInput:
    return InvalidInput(
        f"column type {text!r} is not one Atelier accepts: use one of "
        f"{', '.join(COMMON_TYPES)}, another plain DuckDB type, or a list of one (e.g. BIGINT[])"
    )


@dataclass(frozen=True)
class TableName:
    """``schema.table`` in the lake (``table`` alone means ``main.table``)."""

    schema: str
    table: str

    @classmethod
    def parse(cls, name: str, *, schema: str | None = None) -> TableName:
        """``name`` as ``table`` or ``schema.table``; ``schema``, when given, is the schema of
        a bare ``table`` (or must match the one ``name`` names)."""
        parts = str(name or "").strip().split(".")
        chosen = str(schema).strip() if schema is not None and str(schema).strip() else None
        if chosen is not None and not _IDENTIFIER.fullmatch(chosen):
            raise InvalidInput(
                f"schema {schema!r} is not valid: use letters, digits and underscores, "
                "starting with a letter or underscore (at most 63)"
            )
        if chosen is not None and len(parts) == 2 and parts[0].lower() != chosen.lower():
            raise InvalidInput(
                f"table name {name!r} names schema {parts[0]!r} but the upload chose schema "
                f"{chosen!r}: give the table's name alone, or the same schema"
            )
        if len(parts) == 1:
            parts = [chosen or "main", *parts]
        if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
            raise InvalidInput(
                f"table name {name!r} is not valid: use letters, digits and underscores, "
                "starting with a letter or underscore (at most 63), as name or schema.name"
            )
        if parts[0].lower() in _RESERVED_SCHEMAS:
            raise InvalidInput(f"schema {parts[0]!r} is reserved: choose another schema")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def parse_mode(mode: str) -> Mode:
    for known in MODES:
        if mode == known:
            return known
    raise InvalidInput(f"upload mode {mode!r} is not valid: use one of {', '.join(MODES)}")


@dataclass(frozen=True)
class Options:
    """How to read a file; ``None`` means "detect it"."""

    format: str | None = None
    header: bool | None = None
    delimiter: str | None = None
    quote: str | None = None
    encoding: str | None = None
    skip: int = 0
    sheet: str | None = None
    types: dict[str, str] = field(default_factory=dict)
    ragged: Ragged = "error"
    decimal: str | None = None

    KEYS = (
        "format",
        "header",
        "delimiter",
        "quote",
        "encoding",
        "skip",
        "sheet",
        "types",
        "ragged",
        "decimal",
    )

    @classmethod
    def parse(cls, options: Mapping[str, Any] | Options | None) -> Options:
        """Check a dict of options (from JSON, a form or the CLI); unknown keys are refused."""
        if isinstance(options, Options):
            return options
        values = {k: v for k, v in dict(options or {}).items() if v is not None and v != ""}
        unknown = sorted(set(values) - set(cls.KEYS))
        if unknown:
            raise InvalidInput(
                f"unknown upload option(s) {', '.join(unknown)}: use {', '.join(cls.KEYS)}"
            )
        return cls(
            format=_format(values.get("format")),
            header=_boolean("header", values.get("header")),
            delimiter=_delimiter(values.get("delimiter")),
            quote=_quote(values.get("quote")),
            encoding=_encoding(values.get("encoding")),
            skip=_skip(values.get("skip", 0)),
            sheet=None if values.get("sheet") is None else str(values["sheet"]),
            types=_types(values.get("types") or {}),
            ragged=_ragged(values.get("ragged", "error")),
            decimal=_decimal(values.get("decimal")),
        )

    def as_dict(self) -> dict[str, Any]:
        """The options that were set, as JSON-ready values."""
        data = {key: getattr(self, key) for key in self.KEYS}
        return {
            k: v
            for k, v in data.items()
            if v is not None and v != {} and (k != "skip" or v) and (k != "ragged" or v != "error")
        }


def _format(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).lower().lstrip(".")
    aliases = {"ndjson": "json", "jsonl": "json", "xls": "xlsx", "excel": "xlsx", "pq": "parquet"}
    text = aliases.get(text, text)
    if text not in FORMATS:
        raise InvalidInput(f"format {value!r} is not supported: use one of {', '.join(FORMATS)}")
    return text


def _boolean(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise InvalidInput(f"option {name} must be true or false, not {value!r}")


def _delimiter(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    text = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(text) != 1 or text in "\r\n\"'":
        raise InvalidInput(
            f"delimiter {value!r} is not valid: give one character such as , ; | or tab"
        )
    return text


def _quote(value: Any) -> str | None:
    if value is None:
        return None
    text = {"none": ""}.get(str(value).lower(), str(value))
    if len(text) > 1 or text in ("\r", "\n"):
        raise InvalidInput(f"quote {value!r} is not valid: give one character, or none")
    return text


def _encoding(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return codecs.lookup(str(value)).name
    except LookupError:
        raise InvalidInput(
            f"encoding {value!r} is unknown: use e.g. utf-8, utf-16, latin-1 or cp1252"
        ) from None


def _skip(value: Any) -> int:
    try:
        skip = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"option skip must be a whole number, not {value!r}") from None
    if not 0 <= skip <= 1_000_000:
        raise InvalidInput(f"option skip must be between 0 and 1000000, not {skip}")
    return skip


def _ragged(value: Any) -> Ragged:
    text = str(value).strip().lower()
    for known in RAGGED:
        if text == known:
            return known
    raise InvalidInput(
        f"option ragged {value!r} is not valid: use error (refuse the file, naming the line), "
        "pad (fill short rows with NULLs) or skip (leave rows of the wrong length out)"
    )


def _decimal(value: Any) -> str | None:
    if value is None:
        return None
    text = {"comma": ",", "point": ".", "dot": "."}.get(str(value).strip().lower(), str(value))
    if text not in DECIMALS:
        raise InvalidInput(f"option decimal {value!r} is not valid: use '.' or ','")
    return text


def _types(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("option types must map column names to types, e.g. {'amount': 'DOUBLE'}")
    return {str(column): column_type(str(kind)) for column, kind in value.items()}
