"""Accounts and access: users and roles, API tokens, web sessions, login links, the audit log.

Passwords are hashed with argon2; tokens, sessions and login links are random secrets of which
only a SHA-256 digest is stored, so a copy of the database grants nothing.
"""

from atelier.services.auth.audit import AuditLog
from atelier.services.auth.principal import ROLES, Principal
from atelier.services.auth.sessions import Sessions
from atelier.services.auth.tokens import Tokens
from atelier.services.auth.users import Users

__all__ = ["ROLES", "AuditLog", "Principal", "Sessions", "Tokens", "Users"]
