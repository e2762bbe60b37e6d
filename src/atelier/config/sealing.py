"""Secrets sealed with a key kept outside the metadata database (Fernet, from ``cryptography``).

Source credentials (database passwords, S3 keys) are stored sealed: whoever reads the metadata
database (a backup, a copied file, a PostgreSQL dump) gets ciphertext. The key is

* ``ATELIER_SECRETS_KEY`` when set: one or more Fernet keys separated by commas, the first
  sealing and every one opening; a team server sets it from its secret store;
* otherwise the workspace's key file ``.atelier/secrets_key`` (keys one per line, the first
  sealing), made on first use and readable by its owner only.

Rotation: put a new key first and keep the old ones after it; when the workspace is next
opened, what was sealed with an old key is sealed again with the new one (:meth:`rotate`), and
the old keys can then be removed.

Fernet authenticates what it seals: a value sealed with another key, or changed, does not open,
and the error names where the key came from, never a secret.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

KEY_VARIABLE = "ATELIER_SECRETS_KEY"
KEY_FILE = "secrets_key"


class SealError(AtelierError):
    """A sealed value does not open with the configured key."""

    status_code = 500


@dataclass(frozen=True)
class Sealer:
    """Seals and opens JSON-able values; ``origin`` says where its keys came from."""

    keys: tuple[bytes, ...]
    origin: str

    def seal(self, value: Any) -> str:
        token: bytes = self._fernet().encrypt(json.dumps(value, sort_keys=True).encode())
        return token.decode("ascii")

    def open(self, token: str, what: str = "a sealed value") -> Any:
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet().decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SealError(
                f"{what} does not open with the key from {self.origin}: it was sealed with "
                f"another key. Set {KEY_VARIABLE} (or the key file) to the key it was sealed "
                "with; during a rotation list the new key first, then the old ones, "
                "separated by commas"
            ) from None
        return json.loads(plain)

    def rotate(self, token: str) -> str | None:
        """``token`` sealed again with the first key, or None when it already is."""
        from cryptography.fernet import Fernet, InvalidToken

        try:
            Fernet(self.keys[0]).decrypt(token.encode("ascii"))
            return None
        except InvalidToken:
            pass
        try:
            rotated: bytes = self._fernet().rotate(token.encode("ascii"))
        except InvalidToken:
            self.open(token)  # raises the error that says which key is missing
            raise
        return rotated.decode("ascii")

    def _fernet(self) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(key) for key in self.keys])


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def load_sealer(private_dir: Path, environ: Mapping[str, str] | None = None) -> Sealer:
    """The sealer of a workspace: keys from ``ATELIER_SECRETS_KEY``, else from its key file
    (made, readable by the owner only, on first use)."""
    environ = os.environ if environ is None else environ
    value = environ.get(KEY_VARIABLE, "").strip()
    if value:
        origin = f"the environment variable {KEY_VARIABLE}"
        return Sealer(_parse(value.split(","), origin), origin)
    path = private_dir / KEY_FILE
    origin = f"the key file {path}"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_once(path, new_key() + "\n")
    return Sealer(_parse(path.read_text().splitlines(), origin), origin)


def write_once(path: Path, text: str) -> None:
    """Make ``path`` (readable by its owner only) holding ``text``, unless it exists. Whole
    or not at all: several servers starting at once on a new workspace all read the one key
    that won, never a file still empty."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _parse(lines: list[str], origin: str) -> tuple[bytes, ...]:
    import base64
    import binascii

    keys = []
    for number, line in enumerate(lines, start=1):
        key = line.strip()
        if not key:
            continue
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ConfigError(
                f"{origin}: key {number} is not a Fernet key (32 bytes in URL-safe base64, "
                '44 characters); make one with `python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())"`'
            )
        keys.append(key.encode("ascii"))
    if not keys:
        raise ConfigError(f"{origin} holds no key")
    return tuple(keys)


__all__ = ["KEY_FILE", "KEY_VARIABLE", "SealError", "Sealer", "load_sealer", "new_key"]
