"""The form of a generated app, derived from the model's signature and input example.

One field per input column, with the widget its type calls for: a number box (integer step
for integer columns), a drop-down of the values seen in training for text columns whose values
are known (see :meth:`LoadedModel.categories`), a date picker, a check box, or a text box. The
first row of the input example fills the form in. Submitted HTML form values (all strings)
are parsed back into typed JSON values, each error naming its field.

A personal field (:mod:`atelier.services.serving.personal`) says so, with its kind, for the
page to mark it; it is a plain box, never filled in from the input example nor offered the
values seen in training: both are someone's data, and the app's users may be anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atelier.errors import InvalidInput
from atelier.services.serving import LoadedModel
from atelier.services.serving.personal import PersonalField


@dataclass(frozen=True)
class Field:
    name: str
    #: The MLflow column type.
    type: str
    #: ``integer``, ``number``, ``category``, ``date``, ``boolean`` or ``text``.
    widget: str
    required: bool
    default: Any = None
    options: list[Any] = field(default_factory=list)
    #: The kind of personal data the field holds (``email``...), None when it holds none.
    personal: str | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def personal_label(self) -> str:
        """What the form says of a personal field: ``personal data: email``."""
        return f"personal data: {(self.personal or '').replace('_', ' ')}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "widget": self.widget,
            "required": self.required,
            "default": self.default,
            "options": self.options,
            "personal": self.personal,
        }


def form_fields(
    model: LoadedModel, personal: Mapping[str, PersonalField] | None = None
) -> list[Field]:
    """The form's fields; ``personal``: the model's personal fields (through the app)."""
    if model.schema is None:
        raise InvalidInput(
            f"model {model.name} version {model.version} has no column signature, so no form "
            "can be generated: log it with a signature (mlflow.models.infer_signature)"
        )
    categories = model.categories()
    example = model.example[0] if model.example else {}
    fields = []
    for column in model.schema.columns:
        default = example.get(column.name)
        options: list[Any] = []
        if column.type in ("long", "integer"):
            widget = "integer"
        elif column.type in ("double", "float"):
            widget = "number"
        elif column.type == "boolean":
            widget = "boolean"
        elif column.type == "datetime":
            widget = "date"
            default = str(default)[:10] if default else None
        elif column.name in categories and column.type == "string":
            widget = "category"
            options = [str(value) for value in categories[column.name]]
            if default is not None and str(default) not in options:
                options.append(str(default))
        else:
            widget = "text"
        found = (personal or {}).get(column.name)
        kind = found.kind.value if found is not None else None
        if kind is not None:
            default = None
            if widget == "category":
                widget, options = "text", []
        fields.append(
            Field(column.name, column.type, widget, column.required, default, options, kind)
        )
    return fields


def parse_form(fields: list[Field], form: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON record from submitted form values: numbers parsed, check boxes as booleans,
    empty optional fields left out. The model's schema validates the result."""
    record: dict[str, Any] = {}
    for spec in fields:
        raw = form.get(spec.name)
        if spec.widget == "boolean":
            record[spec.name] = raw is not None and str(raw).lower() in ("on", "true", "1", "yes")
            continue
        text = "" if raw is None else str(raw).strip()
        if text == "" and spec.widget != "text":
            if spec.required:
                raise InvalidInput(f"field {spec.name!r}: a value is required")
            continue
        if spec.widget == "integer":
            try:
                record[spec.name] = int(text)
            except ValueError:
                raise InvalidInput(f"field {spec.name!r}: {text!r} is not a whole number") from None
        elif spec.widget == "number":
            try:
                record[spec.name] = float(text)
            except ValueError:
                raise InvalidInput(f"field {spec.name!r}: {text!r} is not a number") from None
        else:
            record[spec.name] = text
    return record
