"""Users and roles. Passwords are hashed with argon2; there is never a default password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from atelier.backends.metadata import Database, User, WebSession
from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.services.auth.principal import ROLES

NAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: str
    disabled: bool
    has_password: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.id,
        user.name,
        user.role,
        user.disabled,
        user.password_hash is not None,
        user.created_at,
    )


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} does not exist; choose one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password too short: use at least {MIN_PASSWORD} characters")
    return password


def _hasher(cost: str) -> Any:
    """argon2 with the parameters of ``auth.password_hash_cost``."""
    from argon2 import PasswordHasher, profiles

    if cost == "minimal":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


class Users:
    def __init__(self, db: Database, password_hash_cost: str = "standard") -> None:
        self.db = db
        self.password_hash_cost = password_hash_cost

    def create(self, name: str, role: str, password: str | None = None) -> UserInfo:
        if not NAME.match(name):
            raise InvalidInput(
                f"user name {name!r} is not allowed: use lower-case letters, digits, '.', '_' "
                "or '-', starting with a letter (at most 64 characters)"
            )
        check_role(role)
        password_hash = (
            _hasher(self.password_hash_cost).hash(check_password(password))
            if password is not None
            else None
        )
        with self.db.session() as session:
            if session.scalar(select(User).where(User.name == name)) is not None:
                raise Conflict(f"user {name!r} already exists")
            user = User(name=name, role=role, password_hash=password_hash, disabled=False)
            session.add(user)
            session.flush()
            return _info(user)

    def get(self, name: str) -> UserInfo:
        with self.db.session() as session:
            return _info(self._row(session, name))

    def list(self) -> list[UserInfo]:
        with self.db.session() as session:
            return [_info(u) for u in session.scalars(select(User).order_by(User.name))]

    def count(self) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def set_role(self, name: str, role: str) -> UserInfo:
        check_role(role)
        with self.db.session() as session:
            user = self._row(session, name)
            user.role = role
            return _info(user)

    def set_password(self, name: str, password: str) -> None:
        hashed = _hasher(self.password_hash_cost).hash(check_password(password))
        with self.db.session() as session:
            self._row(session, name).password_hash = hashed

    def set_disabled(self, name: str, disabled: bool) -> UserInfo:
        with self.db.session() as session:
            user = self._row(session, name)
            user.disabled = disabled
            if disabled:
                # A disabled account loses its open web sessions at once.
                for web_session in session.scalars(
                    select(WebSession).where(WebSession.user_id == user.id)
                ):
                    session.delete(web_session)
            return _info(user)

    def verify_password(self, name: str, password: str) -> UserInfo | None:
        """The user if the name and password match an enabled account, else None."""
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = _hasher(self.password_hash_cost)
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.name == name))
            if user is None or user.password_hash is None or user.disabled:
                # Same cost whether or not the user exists, so timing does not tell.
                hasher.hash(password)
                return None
            try:
                hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            if hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hasher.hash(password)
            return _info(user)

    def ensure(self, name: str, role: str) -> UserInfo:
        """The named user, created without a password if missing (the single-user owner)."""
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.name == name))
            if user is not None:
                return _info(user)
        return self.create(name, role)

    @staticmethod
    def _row(session: Any, name: str) -> User:
        user: User | None = session.scalar(select(User).where(User.name == name))
        if user is None:
            raise NotFound(f"user {name!r} not found")
        return user
