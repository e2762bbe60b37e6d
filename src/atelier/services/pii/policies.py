"""Masking rules: how a value of each kind of personal data is shown to whom may not see it raw.

A rule is one of

* ``redact``: ``[redacted]`` in place of the value;
* ``partial`` (``partial:N``): every character but the last N (4 by default) becomes ``*``; a
  value of N characters or fewer is starred whole;
* ``pseudonym``: SHA-256 of a secret prefix and the value's text, the first 16 hex digits; the
  prefix is 16 bytes derived from the workspace's pseudonym key (see :class:`Masker`). The same
  value always gives the same pseudonym in one workspace, so joins, ``COUNT(DISTINCT ...)`` and
  group-bys still work; without the key it cannot be reversed nor checked against guesses;
* ``generalise``: a date of birth becomes its year, an address its postcode area (the UK
  outward code, a Canadian FSA, the four digits of a Dutch postcode, the first three of a
  five-digit one, the first two of a four-digit one), an IP address its network (IPv4 ``/24``,
  IPv6 ``/48``); no postcode or address found gives NULL;
* ``null``: NULL.

NULL stays NULL under every rule. Each rule exists twice, with the same output for the same
value (tests hold them to it): :meth:`Masker.mask` for Python values (Arrow arrays, pandas,
prediction logs, feedback) and :meth:`Masker.sql` as a DuckDB expression for policy views.
Values are read as text first (``CAST(x AS VARCHAR)`` in SQL, :func:`as_text` in Python), so a
masked column is VARCHAR, except a generalised date of birth, an INTEGER year.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import PiiKey
from atelier.errors import ConfigError
from atelier.services.pii.kinds import PiiKind

if TYPE_CHECKING:
    import pyarrow

    from atelier.config.sealing import Sealer
    from atelier.config.settings import PiiSettings

log = logging.getLogger(__name__)

Method = Literal["redact", "partial", "pseudonym", "generalise", "null"]
METHODS: tuple[Method, ...] = ("redact", "partial", "pseudonym", "generalise", "null")
REDACTED = "[redacted]"
PSEUDONYM_DIGITS = 16
#: Bytes of the pseudonym's secret prefix, and what it is derived with from the workspace's key.
PSEUDONYM_PREFIX_BYTES = 16
_PSEUDONYM_LABEL = b"atelier pii pseudonym prefix"
#: The kinds a ``generalise`` rule knows how to coarsen.
GENERALISABLE = frozenset({PiiKind.DATE_OF_BIRTH, PiiKind.POSTAL_ADDRESS, PiiKind.IP_ADDRESS})


@dataclass(frozen=True)
class Rule:
    method: Method
    #: Characters ``partial`` keeps at the end.
    keep: int = 4

    def __str__(self) -> str:
        return f"partial:{self.keep}" if self.method == "partial" else self.method


DEFAULT_RULES: dict[PiiKind, Rule] = {
    PiiKind.PERSON_NAME: Rule("pseudonym"),
    PiiKind.EMAIL: Rule("pseudonym"),
    PiiKind.PHONE: Rule("partial", 4),
    PiiKind.POSTAL_ADDRESS: Rule("generalise"),
    PiiKind.DATE_OF_BIRTH: Rule("generalise"),
    PiiKind.NATIONAL_ID: Rule("redact"),
    PiiKind.PAYMENT_CARD: Rule("partial", 4),
    PiiKind.IBAN: Rule("partial", 4),
    PiiKind.IP_ADDRESS: Rule("generalise"),
    PiiKind.FREE_TEXT_WITH_PII: Rule("redact"),
}


def parse_rule(spec: str, where: str = "a masking rule") -> Rule:
    """``redact``, ``null``, ``pseudonym``, ``generalise`` (or ``generalize``), ``partial`` or
    ``partial:N`` (N from 1 to 32)."""
    text = spec.strip().lower()
    if text == "generalize":
        text = "generalise"
    if text in ("redact", "null", "pseudonym", "generalise", "partial"):
        return Rule(text)  # type: ignore[arg-type]
    found = re.fullmatch(r"partial:(\d{1,2})", text)
    if found and 1 <= int(found.group(1)) <= 32:
        return Rule("partial", int(found.group(1)))
    raise ConfigError(
        f"{where}: {spec!r} is not a rule (redact, null, pseudonym, generalise, partial or "
        "partial:N with N from 1 to 32)"
    )


def rules_from(overrides: Mapping[str, str]) -> dict[PiiKind, Rule]:
    """The default rules with ``[pii.rules]`` applied; an unknown kind, a bad rule or
    ``generalise`` for a kind that cannot be generalised is a ConfigError naming the key."""
    rules = dict(DEFAULT_RULES)
    for name, spec in overrides.items():
        where = f"pii.rules.{name}"
        try:
            kind = PiiKind(name)
        except ValueError:
            raise ConfigError(
                f"{where}: no kind of personal data {name!r} "
                f"(kinds are {', '.join(k.value for k in PiiKind)})"
            ) from None
        rule = parse_rule(spec, where)
        if rule.method == "generalise" and kind not in GENERALISABLE:
            raise ConfigError(
                f"{where}: {kind.value} cannot be generalised (only "
                f"{', '.join(sorted(k.value for k in GENERALISABLE))} can)"
            )
        rules[kind] = rule
    return rules


# -- the same rules in Python and in SQL ---------------------------------------------------

_YEAR = r"(?:^|[^0-9])((?:19|20)[0-9]{2})(?:[^0-9]|$)"
#: Postcodes, most specific first; group 1 is the area kept.
_POSTCODES = (
    r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?[0-9][A-Z]{2}\b",  # UK: outward code
    r"\b([A-Z][0-9][A-Z]) ?[0-9][A-Z][0-9]\b",  # Canada: forward sortation area
    r"\b([0-9]{4}) ?[A-Z]{2}\b",  # Netherlands: the four digits
    r"\b([0-9]{3})[0-9]{2}(?:-[0-9]{4})?\b",  # five digits (US ZIP, DE, FR, ES, IT...)
    r"\b([0-9]{2})[0-9]{2}\b",  # four digits (BE, CH, AT, DK, NO...)
)
#: An IP address's network, group 1: the first three parts of an IPv4 address, the first three
#: groups of an IPv6 one written out; spaces (only) may surround the address. RE2's ``$`` is
#: the end of the text (Python's ``\Z``).
_IPV4 = r"^ *([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3} *$"
_IPV6 = r"^ *([0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}):"
#: The same forms without the group: in DuckDB a match without submatches is several times
#: cheaper than an extraction, so the group is extracted only from the values that match.
_IPV4_FORM = r" *[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3} *"  # the whole text
_IPV6_FORM = r"^ *[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:"  # its start


def as_text(value: Any) -> str:
    """A value's text as DuckDB's ``CAST(x AS VARCHAR)`` writes it (for the values personal
    data comes in: text, integers, dates and timestamps)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        if value.tzinfo is not None:
            offset = value.utcoffset()
            hours = int(offset.total_seconds() // 3600) if offset else 0
            text += f"{hours:+03d}"
        return text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Masker:
    """Applies the rules of a workspace with its pseudonym key (never shown: not in ``repr``).

    The pseudonym of a value is ``sha256(prefix || text)``, its first 16 hex digits, where
    ``prefix`` is 16 bytes derived from the workspace's 32-byte key (HMAC-SHA256 of a fixed
    label, truncated) and ``text`` the value's UTF-8 text. One hash per value instead of
    HMAC's two (and no hex round trip between them): in DuckDB it costs about a third of the
    CPU time HMAC did (``bench/pii_masking.py``), and a value of up to 39 bytes fits in
    one SHA-256 block with the prefix. It is still a keyed function:

    * the one generic weakness of SHA-256 keyed by a secret prefix is length extension (from
      the whole digest of ``prefix || m`` one can compute that of ``prefix || m || padding ||
      x`` without the prefix); it needs all 256 bits of the digest, and a pseudonym shows 64
      of them, the reason truncated SHA-2 variants such as SHA-512/256 are immune to it;
    * otherwise it is SHA-256 keyed with 128 secret bits: a guess of a value cannot be checked
      against its pseudonym without the prefix, and finding the prefix from known values and
      their pseudonyms is a search over 2^128 prefixes (no attack on SHA-256 does better);
    * the prefix is derived from the key, not the key itself: the value handed to DuckDB is
      good for pseudonyms only.
    """

    def __init__(self, rules: Mapping[PiiKind, Rule], key: bytes) -> None:
        self.rules = dict(rules)
        self._key = key
        self._prefix = hmac.new(key, _PSEUDONYM_LABEL, hashlib.sha256).digest()[
            :PSEUDONYM_PREFIX_BYTES
        ]
        self._hashed_prefix = hashlib.sha256(self._prefix)

    def __repr__(self) -> str:
        return f"<Masker {len(self.rules)} rules>"

    @property
    def pseudonym_prefix(self) -> bytes:
        """The pseudonym's secret prefix, to hand to DuckDB as a variable (never as SQL text:
        see ``prefix_sql`` of :meth:`sql`)."""
        return self._prefix

    def rule(self, kind: PiiKind | str) -> Rule:
        return self.rules[PiiKind(kind)]

    # -- Python ----------------------------------------------------------------------------

    def pseudonym(self, value: Any) -> str:
        digest = self._hashed_prefix.copy()
        digest.update(as_text(value).encode("utf-8"))
        return digest.hexdigest()[:PSEUDONYM_DIGITS]

    def mask(self, kind: PiiKind | str, value: Any) -> Any:
        """One value masked by ``kind``'s rule (None stays None)."""
        kind = PiiKind(kind)
        rule = self.rules[kind]
        if value is None or rule.method == "null":
            return None
        if rule.method == "redact":
            return REDACTED
        if rule.method == "pseudonym":
            return self.pseudonym(value)
        text = as_text(value)
        if rule.method == "partial":
            if len(text) <= rule.keep:
                return "*" * len(text)
            return "*" * (len(text) - rule.keep) + text[-rule.keep :]
        return _generalise(kind, value, text)

    def mask_values(self, kind: PiiKind | str, values: Iterable[Any]) -> list[Any]:
        return [self.mask(kind, value) for value in values]

    def mask_arrow(self, kind: PiiKind | str, array: pyarrow.Array | pyarrow.ChunkedArray) -> Any:
        """An Arrow array (or chunked array) masked: ``int32`` years for a generalised date of
        birth, strings otherwise."""
        import pyarrow as pa

        kind = PiiKind(kind)
        rule = self.rules[kind]
        target = pa.int32() if _gives_year(kind, rule) else pa.string()
        return pa.array(self.mask_values(kind, array.to_pylist()), type=target)

    # -- DuckDB ----------------------------------------------------------------------------

    def sql(
        self,
        kind: PiiKind | str,
        column: str,
        sql_type: str | None = None,
        *,
        prefix_sql: str | None = None,
    ) -> str:
        """A DuckDB expression giving ``column`` (an SQL expression, e.g. a quoted name)
        masked by ``kind``'s rule, the same values as :meth:`mask`. ``sql_type``, the column's
        DuckDB type when known, lets a date of birth stored as a DATE or TIMESTAMP be
        generalised with ``year()`` instead of reading its text.

        ``prefix_sql`` is an SQL expression giving the pseudonym's secret prefix (a BLOB, e.g.
        ``getvariable('...')`` set to :attr:`pseudonym_prefix`); without it a pseudonym's
        expression holds the prefix as a literal: put such an expression only where the user's
        SQL cannot read definitions (see docs/personal-data.md, "Enforcement")."""
        kind = PiiKind(kind)
        rule = self.rules[kind]
        text = f"CAST({column} AS VARCHAR)"
        if rule.method == "null":
            return "CAST(NULL AS INTEGER)" if _gives_year(kind, rule) else "CAST(NULL AS VARCHAR)"
        if rule.method == "redact":
            return f"CASE WHEN {column} IS NULL THEN NULL ELSE {_sql_string(REDACTED)} END"
        if rule.method == "pseudonym":
            prefix = prefix_sql or f"from_hex('{self._prefix.hex()}')"
            return f"left(sha256({prefix} || encode({text})), {PSEUDONYM_DIGITS})"
        if rule.method == "partial":
            n = rule.keep
            return (
                f"CASE WHEN length({text}) <= {n} THEN repeat('*', length({text})) "
                f"ELSE repeat('*', length({text}) - {n}) || right({text}, {n}) END"
            )
        if kind is PiiKind.DATE_OF_BIRTH:
            if sql_type is not None and sql_type.upper().startswith(("DATE", "TIMESTAMP")):
                return f"CAST(year({column}) AS INTEGER)"
            return (
                f"TRY_CAST(NULLIF(regexp_extract({text}, {_sql_string(_YEAR)}, 1), '') AS INTEGER)"
            )
        if kind is PiiKind.POSTAL_ADDRESS:
            upper = f"upper({text})"
            parts = [
                f"NULLIF(regexp_extract({upper}, {_sql_string(p)}, 1), '')" for p in _POSTCODES
            ]
            return f"COALESCE({', '.join(parts)})"
        # CASE evaluates a branch only for the rows that reach it (NULL reaches none).
        return (
            f"CASE WHEN regexp_full_match({text}, {_sql_string(_IPV4_FORM)}) "
            f"THEN regexp_extract({text}, {_sql_string(_IPV4)}, 1) || '.0/24' "
            f"WHEN regexp_matches({text}, {_sql_string(_IPV6_FORM)}) "
            f"THEN lower(regexp_extract({text}, {_sql_string(_IPV6)}, 1)) || '::/48' END"
        )


def _gives_year(kind: PiiKind, rule: Rule) -> bool:
    return kind is PiiKind.DATE_OF_BIRTH and rule.method in ("generalise", "null")


def _generalise(kind: PiiKind, value: Any, text: str) -> Any:
    if kind is PiiKind.DATE_OF_BIRTH:
        if isinstance(value, date):
            return value.year
        found = re.search(_YEAR, text, re.ASCII)
        return int(found.group(1)) if found else None
    if kind is PiiKind.POSTAL_ADDRESS:
        upper = text.upper()
        for pattern in _POSTCODES:
            found = re.search(pattern, upper, re.ASCII)
            if found:
                return found.group(1)
        return None
    found = _IPV4_PYTHON.search(text)
    if found:
        return f"{found.group(1)}.0/24"
    found = _IPV6_PYTHON.search(text)
    if found:
        return f"{found.group(1).lower()}::/48"
    return None


_IPV4_PYTHON = re.compile(_IPV4.replace("$", r"\Z"), re.ASCII)
_IPV6_PYTHON = re.compile(_IPV6, re.ASCII)


# -- the workspace's policies --------------------------------------------------------------


class PiiPolicies:
    """A workspace's rules (defaults with ``[pii.rules]``) and its pseudonym key, made on first
    use, kept sealed with the workspace key in the metadata database."""

    def __init__(self, db: Database, sealer: Sealer, settings: PiiSettings) -> None:
        self.db = db
        self.sealer = sealer
        self.rules = rules_from(settings.rules)
        #: The key, once read: it never changes (a rotation only seals it again), and a query's
        #: masking plan needs it each time.
        self._known_key: bytes | None = None

    def describe(self) -> list[dict[str, Any]]:
        """Each kind's rule, for people (never the key)."""
        return [
            {
                "kind": kind.value,
                "rule": str(rule),
                "default": rule == DEFAULT_RULES[kind],
                "default_rule": str(DEFAULT_RULES[kind]),
            }
            for kind, rule in self.rules.items()
        ]

    def masker(self) -> Masker:
        if self._known_key is None:
            self._known_key = self._key()
        return Masker(self.rules, self._known_key)

    def _key(self) -> bytes:
        import base64
        import secrets

        from sqlalchemy.exc import IntegrityError

        with self.db.session() as session:
            row = session.scalars(select(PiiKey).where(PiiKey.id == 1)).first()
            sealed = row.sealed if row is not None else None
        if sealed is None:
            fresh = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            try:
                with self.db.session() as session:
                    session.add(PiiKey(id=1, sealed=self.sealer.seal(fresh)))
                log.info("made the workspace's pseudonym key")
            except IntegrityError:
                pass  # made by another process meanwhile
            with self.db.session() as session:
                sealed = session.scalars(select(PiiKey.sealed).where(PiiKey.id == 1)).one()
        value = self.sealer.open(sealed, "the pseudonym key of personal data")
        rotated = self.sealer.rotate(sealed)
        if rotated is not None:
            # Sealed by an older workspace key (during a rotation): sealed again with the first.
            with self.db.session() as session:
                session.execute(update(PiiKey).where(PiiKey.id == 1).values(sealed=rotated))
        return base64.b64decode(str(value))


def policies_of(workbench: object) -> PiiPolicies:
    """The masking policies of a workbench."""
    wb = workbench
    return PiiPolicies(
        wb.db,  # type: ignore[attr-defined]
        wb.workspace.sealer(),  # type: ignore[attr-defined]
        wb.settings.pii,  # type: ignore[attr-defined]
    )


__all__ = [
    "DEFAULT_RULES",
    "GENERALISABLE",
    "METHODS",
    "Masker",
    "PiiPolicies",
    "Rule",
    "as_text",
    "parse_rule",
    "policies_of",
    "rules_from",
]
