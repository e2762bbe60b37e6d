"""What a comment's text points at: ``@user`` mentions and references to subjects.

References are written ``KIND:ID``: ``run:4f2a9c``, ``experiment:3``, ``table:bank.customers``
or ``table:bank.customers@3`` (a table version), ``model:churn/2`` (a model version) or
``model:churn``, ``app:churn-demo``. A comment is plain text: it is rendered escaped, with only
mentions and references turned into links that Atelier builds itself; no HTML a user wrote
ever reaches a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from atelier.services.activity.subjects import link

#: ``@name`` where a user name may stand (not inside an e-mail address).
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9_.\-]{0,63})")
#: ``kind:id`` references (an id ends before trailing punctuation).
REFERENCE = re.compile(
    r"(?<![\w/])(run|experiment|table|model|app):"
    r"([A-Za-z0-9][A-Za-z0-9_.\-/]*(?:@[0-9]+)?)(?<![.\-/])"
)


@dataclass(frozen=True)
class Reference:
    kind: str
    #: The subject's id (a table version's table, a model version as ``name/version``).
    id: str
    #: A table's version, when one is named.
    version: int | None
    text: str

    @property
    def link(self) -> str:
        target = link(self.kind, self.id)
        return f"{target}?version={self.version}" if self.version is not None else target


def mentions(body: str) -> list[str]:
    """The names mentioned, in order, once each (trailing dots are punctuation)."""
    return list(dict.fromkeys(m.group(1).rstrip(".") for m in MENTION.finditer(body)))


def _reference(match: re.Match[str]) -> Reference:
    kind, target = match.group(1), match.group(2)
    version: int | None = None
    if kind == "table" and "@" in target:
        target, _, number = target.partition("@")
        version = int(number)
    return Reference(kind, target, version, match.group(0))


def references(body: str) -> list[Reference]:
    return [_reference(m) for m in REFERENCE.finditer(body)]


def render_body(body: str, users: frozenset[str] | None = None) -> Markup:
    """The comment as safe HTML: escaped text, line breaks kept, mentions of ``users`` (all
    mentions when None) and references as links."""
    pattern = re.compile(f"{MENTION.pattern}|{REFERENCE.pattern}")
    parts: list[str] = []
    last = 0
    for match in pattern.finditer(body):
        parts.append(str(escape(body[last : match.start()])))
        name = match.group(1)
        if name is not None:
            name = name.rstrip(".")
            rest = match.group(0)[len(name) + 1 :]
            if users is None or name in users:
                parts.append(f'<span class="mention">@{escape(name)}</span>{escape(rest)}')
            else:
                parts.append(str(escape(match.group(0))))
        else:
            ref = _reference(re.match(REFERENCE, match.group(0)))  # type: ignore[arg-type]
            parts.append(f'<a class="reference" href="{escape(ref.link)}">{escape(ref.text)}</a>')
        last = match.end()
    parts.append(str(escape(body[last:])))
    return Markup("".join(parts).replace("\n", "<br>\n"))
