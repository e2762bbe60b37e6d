"""What a token made for code may do: scopes, and the scopes of each kind of code.

A person's own token (and a web session) carries the full rights of its user's role. Code that
a scientist writes — a hosted app, a job, a notebook server and its kernels — gets a token of
its own that is *scoped*: it reaches only the routes that declare one of its scopes (see
``allow(..., scopes=...)`` in ``server/security.py``), deny by default. No route about accounts
(users, tokens, the audit log), sources or the portal's pages declares a scope, so no code
token ever reaches them, whoever its owner is.
"""

from __future__ import annotations

from collections.abc import Iterable

from atelier.errors import InvalidInput

#: Read the warehouse's tables as the owner may: the catalog, table details, profiles, SQL
#: (user SQL is read-only).
DATA_READ = "data:read"
#: The owner's other work with data: uploads, table descriptions, their SQL history, the list
#: of attached sources (never attaching or removing one: that is an admin's).
DATA = "data"
#: Predict with registered models and through apps, and give feedback on predictions.
PREDICT = "predict"
#: The feature store: read and apply definitions, training sets, online values.
FEATURES = "features"
#: Experiment tracking (MLflow through the gateway) and the model registry.
TRACKING = "tracking"
#: Projects and their environments (not their members).
PROJECTS = "projects"
#: Submit, follow and cancel jobs.
JOBS = "jobs"

SCOPES = frozenset({DATA_READ, DATA, PREDICT, FEATURES, TRACKING, PROJECTS, JOBS})

#: A hosted app reads the tables its owner may read, and predicts; nothing else.
APP = frozenset({DATA_READ, PREDICT})
#: Jobs and notebooks do their owner's work, but never manage accounts, sources or apps.
WORK = frozenset({DATA_READ, DATA, PREDICT, FEATURES, TRACKING, PROJECTS, JOBS})
JOB = WORK
NOTEBOOK = WORK


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    found = frozenset(scopes)
    unknown = found - SCOPES
    if unknown:
        raise InvalidInput(
            f"unknown token scope {', '.join(sorted(unknown))} "
            f"(scopes are {', '.join(sorted(SCOPES))})"
        )
    if not found:
        raise InvalidInput("a scoped token needs at least one scope")
    return found


def encode(scopes: frozenset[str] | None) -> str | None:
    return None if scopes is None else " ".join(sorted(scopes))


def decode(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(text.split())
