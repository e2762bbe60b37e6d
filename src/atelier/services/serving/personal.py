"""Which fields of a model's requests hold personal data, and requests as they may be kept.

A field of a model version's input is personal when

1. the run that made the version records it: the MLflow tag ``atelier.pii`` of the run (or of
   the version), a JSON object ``{"column": "kind"}`` written when the model was trained on
   tagged columns;
2. the classifier (:func:`atelier.services.pii.classify`) finds it from the signature's names
   and the input example's values. A name alone counts only for a field of text, integers or
   dates whose example holds no value: the example's values, when there are some, have the
   last word, and a boolean or a number named ``has_credit_card`` is not a card number;
3. the owner of an app marks it (``marks``: field → kind, or None for "not personal", which
   takes back a classifier's guess but never what training recorded).

:meth:`PersonalData.mask_record` gives a request's record as it may be kept: each personal
field masked by its kind's rule (the workspace's :class:`~atelier.services.pii.policies.Masker`:
a pseudonym by default for names and emails, so that logged requests still join and count),
and the text of other free-text fields in which the classifier finds personal data masked as
``free_text_with_pii``. The model server logs only that record (the journal on disk, the
warehouse table, the predictions it remembers), whoever asked: raw personal data never lands
in a log. :meth:`PersonalData.mask_text` does the same for feedback's comments.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atelier.services.pii import PiiKind, classify
from atelier.services.pii.text import pii_in_text

if TYPE_CHECKING:
    from atelier.services.pii.policies import Masker
    from atelier.services.serving.models import LoadedModel
    from atelier.services.tracking.registry import ModelRegistry

log = logging.getLogger(__name__)

#: The MLflow tag (of a run, or of a model version) naming the personal columns it used.
TAG = "atelier.pii"
#: How sure the classifier must be of a field with an example value; a name alone gives
#: :data:`NAME_ONLY`, enough only when the example has no value to say otherwise.
THRESHOLD = 0.5
NAME_ONLY = 0.4
#: Field types a name alone can make personal (a boolean or a number holds no identity).
NAMED_TYPES = frozenset({"string", "long", "integer", "datetime", "any"})
#: How long an app's marks are kept in memory (a change made here is seen at once).
MARKS_SECONDS = 5.0
#: Free text is looked at in pieces of this many characters (overlapping by
#: :data:`OVERLAP`, so that a value cut in two is still seen whole): all of it, not only its
#: beginning as when a column is classified, since what is missed here is kept raw.
PIECE = 4000
OVERLAP = 200

TRAINING = "training"
CLASSIFIER = "classifier"
OWNER = "owner"

Marks = Callable[[str], Mapping[str, "str | None"]]


@dataclass(frozen=True)
class PersonalField:
    """One personal field: its kind and who said so (``training``, ``classifier``, ``owner``)."""

    name: str
    kind: PiiKind
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind.value, "source": self.source}


def recorded_fields(tags: Mapping[str, str], fields: set[str] | None = None) -> dict[str, PiiKind]:
    """Field → kind from an ``atelier.pii`` tag's JSON (fields of the model only, when
    ``fields`` is given); an unreadable tag or an unknown kind is skipped, with a warning."""
    text = tags.get(TAG)
    if not text:
        return {}
    try:
        found = json.loads(text)
    except (TypeError, ValueError):
        log.warning("the %s tag is not JSON: ignored", TAG)
        return {}
    if not isinstance(found, Mapping):
        log.warning("the %s tag is not a JSON object: ignored", TAG)
        return {}
    recorded = {}
    for column, kind in found.items():
        try:
            parsed = PiiKind(str(kind))
        except ValueError:
            log.warning("the %s tag names an unknown kind %r for %r: ignored", TAG, kind, column)
            continue
        if fields is None or str(column) in fields:
            recorded[str(column)] = parsed
    return recorded


def classified_fields(model: LoadedModel) -> dict[str, PiiKind]:
    """Field → kind the classifier finds from the signature's names and the input example."""
    if model.schema is None:
        return {}
    types = {column.name: column.type for column in model.schema.columns}
    sampled: dict[str, list[Any]] = {name: [] for name in types}
    for row in model.example or []:
        for name, value in row.items():
            if name in sampled and value is not None and value != "":
                sampled[name].append(value)
    found = {}
    for finding in classify(sampled, threshold=NAME_ONLY):
        named_only = finding.confidence < THRESHOLD
        if named_only and (finding.checked or types.get(finding.column) not in NAMED_TYPES):
            continue
        found[finding.column] = finding.kind
    return found


def personal_fields(
    model: LoadedModel,
    tags: Mapping[str, str] | None = None,
    marks: Mapping[str, str | None] | None = None,
    *,
    classified: Mapping[str, PiiKind] | None = None,
) -> dict[str, PersonalField]:
    """The personal fields of ``model`` (a loaded version): recorded by training (``tags``,
    the ``atelier.pii`` tag of its run), found by the classifier (``classified``, when it ran
    already), and marked by an app's owner (``marks``). Fields of the model only, in its
    signature's order."""
    if model.schema is None:
        return {}
    names = [column.name for column in model.schema.columns]
    found: dict[str, PersonalField] = {}
    if classified is None:
        classified = classified_fields(model)
    for name, kind in classified.items():
        found[name] = PersonalField(name, kind, CLASSIFIER)
    for name, kind_name in (marks or {}).items():
        if name not in names:
            continue
        if kind_name is None:
            found.pop(name, None)
            continue
        try:
            found[name] = PersonalField(name, PiiKind(kind_name), OWNER)
        except ValueError:
            continue
    for name, kind in recorded_fields(tags or {}, set(names)).items():
        found[name] = PersonalField(name, kind, TRAINING)
    return {name: found[name] for name in names if name in found}


class PersonalData:
    """The personal fields of served models (each version's worked out once) and the masking
    of what is logged about their requests. ``masker`` gives the workspace's masker (made on
    first use), ``registry`` the model registry whose runs hold the ``atelier.pii`` tags,
    ``marks`` an app's marks (:class:`atelier.services.apps.personal.AppMarks`)."""

    def __init__(
        self,
        masker: Callable[[], Masker],
        registry: Callable[[], ModelRegistry] | None = None,
        marks: Marks | None = None,
        *,
        marks_seconds: float = MARKS_SECONDS,
    ) -> None:
        self._make_masker = masker
        self.registry = registry
        self._marks = marks
        self.marks_seconds = marks_seconds
        self._masker: Masker | None = None
        self._models: dict[tuple[str, int], _Version] = {}
        self._app_marks: dict[str, tuple[dict[str, str | None], float]] = {}
        self._lock = threading.Lock()

    @property
    def masker(self) -> Masker:
        if self._masker is None:
            self._masker = self._make_masker()
        return self._masker

    # -- which fields --------------------------------------------------------------------

    def fields(self, model: LoadedModel, app: str | None = None) -> dict[str, PersonalField]:
        """The personal fields of ``model``'s requests (through ``app``, with its marks)."""
        version = self._version(model)
        marks = self.marks(app) if app else None
        return personal_fields(model, version.tags, marks, classified=version.classified)

    def marks(self, app: str) -> dict[str, str | None]:
        """An app's marks, read again after :attr:`marks_seconds` (or :meth:`forget`)."""
        if self._marks is None:
            return {}
        now = time.monotonic()
        with self._lock:
            cached = self._app_marks.get(app)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = dict(self._marks(app))
        with self._lock:
            self._app_marks[app] = (found, now + self.marks_seconds)
        return found

    def forget(self, app: str) -> None:
        """Read ``app``'s marks again at its next request (they were just changed)."""
        with self._lock:
            self._app_marks.pop(app, None)

    def _version(self, model: LoadedModel) -> _Version:
        """The version's tags, classified fields and the known values of its text fields,
        worked out once (not for every request)."""
        key = (model.name, model.version)
        with self._lock:
            known = self._models.get(key)
        if known is not None:
            return known
        try:
            categories = {
                name: frozenset(str(v) for v in values)
                for name, values in model.categories().items()
            }
        except Exception:  # a model without readable encoders has no known values
            categories = {}
        found = _Version(self._tags(model), classified_fields(model), categories)
        with self._lock:
            self._models[key] = found
        return found

    def _tags(self, model: LoadedModel) -> dict[str, str]:
        info = getattr(model, "info", None)
        tags = {str(k): str(v) for k, v in (getattr(info, "tags", None) or {}).items()}
        run_id = getattr(info, "run_id", None)
        if self.registry is None or not run_id:
            return tags
        try:
            run = self.registry().client.get_run(run_id)
        except Exception as error:  # a deleted run records nothing
            log.info("the run of %s cannot be read for its %s tag: %s", _label(model), TAG, error)
            return tags
        run_tags = dict(run.data.tags or {})
        if TAG in run_tags:
            tags[TAG] = str(run_tags[TAG])
        return tags

    # -- masking -------------------------------------------------------------------------

    def mask_record(
        self, model: LoadedModel, row: Mapping[str, Any], app: str | None = None
    ) -> dict[str, Any]:
        """``row`` (one validated request) as it may be logged: personal fields masked by
        their kind's rule, personal data found in other free text masked as free text."""
        return self.masking(model, app)(row)

    def masking(
        self, model: LoadedModel, app: str | None = None
    ) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        """:meth:`mask_record` for the rows of one request: which fields are personal is
        worked out once, not for every row."""
        personal = self.fields(model, app)
        categories = self._version(model).categories
        masker = self.masker

        def mask(row: Mapping[str, Any]) -> dict[str, Any]:
            kept: dict[str, Any] = {}
            for name, value in row.items():
                field = personal.get(name)
                if field is not None:
                    kept[name] = masker.mask(field.kind, value)
                elif isinstance(value, str) and value not in categories.get(name, frozenset()):
                    kept[name] = self.mask_text(value)
                elif isinstance(value, list | dict) and has_personal_data(
                    json.dumps(value, default=str)
                ):
                    # A nested value (an array or object field) is kept whole or masked whole.
                    kept[name] = masker.mask(
                        PiiKind.FREE_TEXT_WITH_PII, json.dumps(value, default=str)
                    )
                else:
                    kept[name] = value
            return kept

        return mask

    def mask_text(self, text: str | None) -> str | None:
        """Free text as it may be kept: masked as ``free_text_with_pii`` when the classifier
        finds personal data in it, else unchanged."""
        if not text or not has_personal_data(text):
            return text
        masked = self.masker.mask(PiiKind.FREE_TEXT_WITH_PII, text)
        return None if masked is None else str(masked)


@dataclass(frozen=True)
class _Version:
    tags: dict[str, str]
    classified: dict[str, PiiKind]
    categories: dict[str, frozenset[str]]


def has_personal_data(text: str) -> bool:
    """Whether the classifier finds personal data anywhere in ``text``."""
    start = 0
    while True:
        if pii_in_text(text[start : start + PIECE]) is not None:
            return True
        if start + PIECE >= len(text):
            return False
        start += PIECE - OVERLAP


def _label(model: LoadedModel) -> str:
    return f"{model.name} version {model.version}"


__all__ = [
    "TAG",
    "PersonalData",
    "PersonalField",
    "classified_fields",
    "has_personal_data",
    "personal_fields",
    "recorded_fields",
]
