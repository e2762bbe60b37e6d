"""The server's own secrets, kept from the processes that run user code.

A job, a notebook kernel or a hosted app runs a user's code, which reaches data through
Atelier's API with a token of its own, within that user's rights. The variables that open the
``[storage]`` bucket (or the sealed source credentials) directly would bypass every right, so
such processes do not inherit them from the server.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Names (or prefixes) of the server's secret variables.
SERVER_SECRETS = (
    "ATELIER_STORAGE_",
    "ATELIER_SECRETS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def without_server_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less the server's secret variables."""
    return {k: v for k, v in environ.items() if not k.startswith(SERVER_SECRETS)}
