"""Request bodies read as JSON, strictly: every malformed body is a 400 that says what is wrong.

Python's ``json`` accepts more than JSON (``NaN``, ``Infinity``, ``1e999`` as infinity,
duplicate keys, the last one silently winning) and fails in ways that are not
``JSONDecodeError`` (a ``RecursionError`` for deep nesting, a ``ValueError`` for integers of
thousands of digits, a ``UnicodeDecodeError`` for bytes that are not UTF-8). :func:`parse_json`
turns all of those into :class:`~atelier.errors.InvalidInput`, and refuses values nested deeper
than :data:`MAX_DEPTH`, which code further on (pandas, recursive checks) could not handle.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from atelier.errors import InvalidInput

Model = TypeVar("Model", bound=BaseModel)

#: Objects and lists nested deeper than this are refused.
MAX_DEPTH = 64


class _Refused(ValueError):
    """A value JSON does not have, found by one of the parser's hooks."""


def parse_json(raw: bytes, what: str = "the request body") -> Any:
    """The JSON value in ``raw``; InvalidInput naming the problem and where it is."""
    if not raw.strip():
        raise InvalidInput(f"{what} is empty: send JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.start + 1]
        raise InvalidInput(
            f"{what} is not UTF-8 text (byte {error.start} is {bad!r}): send JSON encoded as UTF-8"
        ) from None
    try:
        value = json.loads(
            text,
            parse_constant=_constant,
            parse_float=_float,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{what} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        # _Refused from a hook, or an integer too long to convert.
        raise InvalidInput(f"{what} is not accepted: {error}") from None
    _check_depth(value, what)
    return value


def parse_model(raw: bytes, model: type[Model], what: str = "the request body") -> Model:
    """``raw`` parsed by :func:`parse_json` and validated as ``model``; InvalidInput naming
    each field that is wrong."""
    value = parse_json(raw, what)
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object, not {type(value).__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise InvalidInput(f"{what} is not accepted: {'; '.join(problems)}") from None


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value (send null, or a number)")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"the number {text[:40]} is out of range")
    return number


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key[:80]!r} appears twice in one object")
        result[key] = value
    return result


def _check_depth(value: Any, what: str) -> None:
    pending = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if not isinstance(current, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels")
        children = current.values() if isinstance(current, dict) else current
        pending.extend((child, depth + 1) for child in children)


__all__ = ["MAX_DEPTH", "parse_json", "parse_model"]
