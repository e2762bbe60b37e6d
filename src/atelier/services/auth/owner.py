"""The local owner's name: the OS user, made into a valid Atelier user name.

The workspace's local admin (``Workbench.owner``) and run capture outside a server (the
``atelier.user`` tag) both name the person at the keyboard this way; it lives here, below both,
so that neither imports the other.
"""

from __future__ import annotations

import getpass
import re


def owner_name() -> str:
    """The OS user name, made into a valid Atelier user name."""
    try:
        name = getpass.getuser().lower()
    except (KeyError, OSError):
        name = "owner"
    name = re.sub(r"[^a-z0-9._-]", "-", name)
    return name if name[:1].isalpha() else f"u{name}"[:64]
