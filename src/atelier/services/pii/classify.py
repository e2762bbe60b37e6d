"""Classify a table's columns from their names and a sample of their values.

A table of any size is first sampled: ``sample_rows`` rows (2,000 by default) drawn one from
each of as many equal slices of the table (stratified by position, so a table sorted by date or
country is sampled across its whole length), with a fixed seed so the same table gives the
same findings. Each column then keeps at most ``max_values`` non-empty values.

Per column and kind, the share of sampled values that pass the kind's recogniser and whether
the column's name points at the kind make a confidence (docs/personal-data.md gives the rule).
A column gets at most one kind: the most confident one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput
from atelier.services.pii import values
from atelier.services.pii.address import postal_address
from atelier.services.pii.kinds import ColumnFinding, PiiKind
from atelier.services.pii.names import name_signals
from atelier.services.pii.text import pii_in_text

if TYPE_CHECKING:
    import pyarrow as pa

_WORD = re.compile(r"(?<!\S)[^\W\d_]{2,}[,.!?]?(?!\S)")
SAMPLE_ROWS = 2000
MAX_VALUES = 1000
# A long document in one cell is read by its beginning: enough to find personal data in it,
# and a hostile or huge cell cannot make classification slow.
MAX_CHARS = 4000
THRESHOLD = 0.5
# How much a full match of the values alone is worth: checksums and strict formats more than
# shapes that other data can share.
WEIGHT = {
    PiiKind.PAYMENT_CARD: 1.0,
    PiiKind.IBAN: 1.0,
    PiiKind.EMAIL: 1.0,
    PiiKind.NATIONAL_ID: 0.95,
    PiiKind.IP_ADDRESS: 0.9,
    PiiKind.PHONE: 0.9,
    PiiKind.POSTAL_ADDRESS: 0.85,
    PiiKind.DATE_OF_BIRTH: 0.7,
    PiiKind.PERSON_NAME: 0.8,
}
NAME_BONUS = 0.15
NAME_ONLY = 0.4  # the name says so, the values do not (or there are none): below the threshold
TEXT_MIN_SHARE = 0.02
LONGEST_LIFE = 115  # years: a column of dates reaching further back is not of living people


def classify(
    table: pa.Table | Mapping[str, Sequence[Any]],
    names: Sequence[str] | None = None,
    *,
    sample_rows: int = SAMPLE_ROWS,
    max_values: int = MAX_VALUES,
    threshold: float = THRESHOLD,
    seed: int = 0,
) -> list[ColumnFinding]:
    """The findings of confidence ``threshold`` or more for the columns ``names`` (all when
    None) of a pyarrow Table or a mapping of column name to sampled values."""
    columns = _sample(table, names, sample_rows, seed)
    findings = []
    for column, sampled in columns.items():
        found = classify_column(column, sampled[:max_values] if max_values else sampled)
        if found is not None and found.confidence >= threshold:
            findings.append(found)
    return findings


def _sample(
    table: pa.Table | Mapping[str, Sequence[Any]],
    names: Sequence[str] | None,
    sample_rows: int,
    seed: int,
) -> dict[str, list[Any]]:
    if isinstance(table, Mapping):
        wanted = list(names) if names is not None else list(table)
        missing = [n for n in wanted if n not in table]
        if missing:
            raise InvalidInput(f"no column {missing[0]!r} in the sample")
        return {n: [v for v in table[n] if v is not None and v != ""] for n in wanted}
    import numpy as np

    wanted = list(names) if names is not None else list(table.column_names)
    missing = [n for n in wanted if n not in table.column_names]
    if missing:
        raise InvalidInput(f"no column {missing[0]!r} in the table")
    table = table.select(wanted)
    rows = table.num_rows
    if rows > sample_rows > 0:
        rng = np.random.default_rng(seed)
        starts = np.arange(sample_rows, dtype=np.int64) * rows // sample_rows
        ends = np.append(starts[1:], rows)
        table = table.take(starts + (rng.random(sample_rows) * (ends - starts)).astype(np.int64))
    return {n: [v for v in table.column(n).drop_null().to_pylist() if v != ""] for n in wanted}


@dataclass
class _Tally:
    matched: int = 0
    formats: Counter[str] = field(default_factory=Counter)

    def add(self, label: str, weight: int = 1) -> None:
        self.matched += weight
        self.formats[label] += weight


def classify_column(column: str, sampled: Sequence[Any]) -> ColumnFinding | None:
    """The most confident finding for one column, or None."""
    signals = name_signals(column)
    texts, dates = _prepare(sampled)
    tallies: dict[PiiKind, _Tally] = {}
    checked = len(texts) or len(dates)
    if dates:
        _dates(dates, signals, tallies)
    elif texts:
        _texts(texts, signals, tallies)
    candidates: list[tuple[float, PiiKind, _Tally]] = []
    for kind, tally in tallies.items():
        if kind is PiiKind.FREE_TEXT_WITH_PII or not tally.matched:
            continue
        share = tally.matched / checked if checked else 0.0
        confidence = WEIGHT[kind] * share
        if kind in signals and share >= 0.3:
            confidence = min(1.0, max(confidence, 0.6) + NAME_BONUS)
        candidates.append((confidence, kind, tally))
    best: tuple[float, PiiKind, _Tally] | None = max(candidates, key=lambda c: c[0], default=None)
    if (best is None or best[0] < THRESHOLD) and PiiKind.FREE_TEXT_WITH_PII in tallies:
        best = _text_confidence(tallies[PiiKind.FREE_TEXT_WITH_PII], checked, signals)
    if best is None or best[0] < THRESHOLD:
        named = [k for k, strong in signals.items() if strong and k in WEIGHT]
        if named and not (best and best[0] >= NAME_ONLY):
            best = (NAME_ONLY, named[0], _Tally())
    if best is None:
        return None
    confidence, kind, tally = best
    return ColumnFinding(
        column=column,
        kind=kind,
        confidence=round(confidence, 2),
        evidence=_evidence(kind, tally, checked, kind in signals),
        matched=tally.matched,
        checked=checked,
        name_signal=kind in signals,
        formats=tuple(label for label, _ in tally.formats.most_common(5)),
    )


def _prepare(sampled: Sequence[Any]) -> tuple[list[str], list[date]]:
    """Values as text (numbers as their digits), or as dates when the column holds dates."""
    texts: list[str] = []
    dates: list[date] = []
    for value in sampled:
        if isinstance(value, date):
            found = values.as_date(value)
            if found is None:
                return [], []  # timestamps with a time of day: events, not birthdays
            dates.append(found)
        elif isinstance(value, str):
            texts.append(value[:MAX_CHARS].strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            texts.append(str(value))
        else:
            return [], []  # floats, booleans, binary, nested values: nothing to recognise
    return [t for t in texts if t], dates


def _dates(
    dates: list[date], signals: Mapping[PiiKind, bool], tallies: dict[PiiKind, _Tally]
) -> None:
    today = date.today()
    plausible = [d for d in dates if 1900 <= d.year <= today.year]
    tally = _Tally()
    if PiiKind.DATE_OF_BIRTH in signals:
        for _ in plausible:
            tally.add("date")
    elif plausible and len(plausible) == len(dates):
        years = [d.year for d in plausible]
        # Birthdays of living adults: spread over decades, none recent, none more than
        # LONGEST_LIFE years ago; event dates (and the dates of buildings) rarely are.
        if (
            max(years) <= today.year - 16
            and min(years) > today.year - LONGEST_LIFE
            and max(years) - min(years) >= 20
        ):
            for _ in plausible:
                tally.add("date")
    if tally.matched:
        tallies[PiiKind.DATE_OF_BIRTH] = tally


def _texts(
    texts: list[str], signals: Mapping[PiiKind, bool], tallies: dict[PiiKind, _Tally]
) -> None:
    # Each distinct value is recognised once and counts as often as it occurs.
    distinct = list(Counter(texts).items())
    # A first look at 200 values decides which recognisers are worth running on the rest.
    head, rest = distinct[:200], distinct[200:]
    head_weight = sum(weight for _, weight in head)
    # Prose: several words of letters per value (a spaced IBAN or an address has fewer).
    words = sum(len(_WORD.findall(t)) for t, _ in head) / len(head)
    active = _recognisers(signals, prose=words >= 4)
    _run(head, active, signals, tallies)
    if rest:
        keep = {
            kind: fn
            for kind, fn in active.items()
            if kind in signals
            or kind is PiiKind.FREE_TEXT_WITH_PII
            or tallies[kind].matched >= 0.3 * head_weight
        }
        _run(rest, keep, signals, tallies)


def _recognisers(signals: Mapping[PiiKind, bool], prose: bool) -> dict[PiiKind, Any]:
    if prose:
        return {PiiKind.FREE_TEXT_WITH_PII: pii_in_text, PiiKind.POSTAL_ADDRESS: postal_address}
    return {
        PiiKind.EMAIL: values.email,
        PiiKind.IP_ADDRESS: values.ip_address,
        PiiKind.IBAN: values.iban,
        PiiKind.PAYMENT_CARD: values.payment_card,
        PiiKind.NATIONAL_ID: values.national_id,
        PiiKind.PHONE: values.PhoneColumn(),
        PiiKind.DATE_OF_BIRTH: values.as_date,
        PiiKind.PERSON_NAME: values.person_name,
        PiiKind.POSTAL_ADDRESS: postal_address,
    }


def _run(
    texts: list[tuple[str, int]],
    active: Mapping[PiiKind, Any],
    signals: Mapping[PiiKind, bool],
    tallies: dict[PiiKind, _Tally],
) -> None:
    for kind, recognise in active.items():
        tally = tallies.setdefault(kind, _Tally())
        for text, weight in texts:
            found = recognise(text)
            if found is None or found is False:
                continue
            if kind is PiiKind.DATE_OF_BIRTH:
                if kind in signals and 1900 <= found.year <= date.today().year:
                    tally.add("date", weight)
            elif kind is PiiKind.PERSON_NAME:
                _, known = found
                # A known given name or surname, or the column's name says it holds names.
                if known or signals.get(kind):
                    tally.add("known" if known else "shape", weight)
            elif isinstance(found, tuple):
                label, strong = found
                if strong or kind in signals:
                    tally.add(label, weight)
            else:
                tally.add(str(found), weight)


def _text_confidence(
    tally: _Tally, checked: int, signals: Mapping[PiiKind, bool]
) -> tuple[float, PiiKind, _Tally] | None:
    share = tally.matched / checked if checked else 0.0
    if tally.matched < 2 or share < TEXT_MIN_SHARE:
        return None
    confidence = 0.55 + 0.45 * min(1.0, share / 0.2)
    if PiiKind.FREE_TEXT_WITH_PII in signals:
        confidence = min(1.0, confidence + 0.1)
    return confidence, PiiKind.FREE_TEXT_WITH_PII, tally


def _evidence(kind: PiiKind, tally: _Tally, checked: int, named: bool) -> str:
    said = "the column's name suggests it; " if named else ""
    if not tally.matched:
        return f"the column's name suggests {kind.value}; no sampled value confirms it"
    what = {
        PiiKind.FREE_TEXT_WITH_PII: "contain personal data",
    }.get(kind, f"look like {kind.value.replace('_', ' ')}")
    formats = ", ".join(f"{label} {count}" for label, count in tally.formats.most_common(5))
    return f"{said}{tally.matched} of {checked} sampled values {what} ({formats})"
