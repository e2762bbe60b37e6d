"""Stored logins: what ``atelier login URL`` keeps so that later commands reach that server.

One file per user, ``$XDG_CONFIG_HOME/atelier/credentials.toml`` (``~/.config/...`` by default),
readable by its owner only (mode 0600 in a 0700 folder). It holds one table per server URL,
with the token and who it acts as, and names the default server (the last one logged in to)::

    default = "https://atelier.example.com"

    [servers."https://atelier.example.com"]
    token = "atl_..."
    user = "ada"
    key = "3f2a..."

A file or folder that others may read is refused (another account could have copied the
tokens): its permissions are fixed, with a warning, when it belongs to this user, else it is
not used.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.errors import AtelierError, InvalidInput

FILE_NAME = "credentials.toml"


@dataclass(frozen=True)
class Login:
    url: str
    token: str
    user: str
    key: str


def config_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "atelier"


def credentials_path(environ: dict[str, str] | None = None) -> Path:
    return config_dir(environ) / FILE_NAME


def normalize_url(url: str) -> str:
    """``https://host/`` and ``https://host`` are one server; a missing scheme is an error."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise InvalidInput(f"{url!r} is not a server URL: write it as https://HOST[:PORT]")
    return url


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _owner_only(path: Path, mode: int) -> bool:
    """Whether ``path`` may be trusted: this user's and closed to others. Permissions that let
    others in are narrowed to ``mode`` with a warning; another owner's file is refused."""
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        _warn(f"{path} belongs to another user: not used")
        return False
    if stat.S_IMODE(info.st_mode) & 0o077:
        _warn(
            f"{path} was readable by others ({stat.S_IMODE(info.st_mode):o}): "
            f"narrowed to {mode:o}; revoke the tokens it holds if others may have read it "
            "(`atelier logout --all`)"
        )
        path.chmod(mode)
    return True


def _read(environ: dict[str, str] | None = None) -> dict[str, Any]:
    path = credentials_path(environ)
    if not path.is_file():
        return {}
    if not (_owner_only(path.parent, 0o700) and _owner_only(path, 0o600)):
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AtelierError(f"{path} cannot be read ({exc}): fix it or delete it") from None
    return data


def _string(value: str) -> str:
    # A JSON string is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _write(data: dict[str, Any], environ: dict[str, str] | None = None) -> Path:
    path = credentials_path(environ)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    lines = []
    if data.get("default"):
        lines.append(f"default = {_string(data['default'])}")
    for url, entry in sorted(data.get("servers", {}).items()):
        lines.append("")
        lines.append(f"[servers.{_string(url)}]")
        lines.extend(f"{field} = {_string(str(value))}" for field, value in entry.items())
    text = "\n".join(lines) + "\n"
    # Written to a new owner-only file, then renamed: never readable by others, even briefly.
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def load(url: str | None = None, environ: dict[str, str] | None = None) -> Login | None:
    """The stored login for ``url`` (default: the default server), or None."""
    data = _read(environ)
    servers: dict[str, Any] = data.get("servers", {})
    wanted = normalize_url(url) if url else data.get("default")
    entry = servers.get(wanted) if wanted else None
    if not isinstance(entry, dict) or not entry.get("token"):
        return None
    assert wanted is not None
    return Login(wanted, str(entry["token"]), str(entry.get("user", "")), str(entry.get("key", "")))


def logins(environ: dict[str, str] | None = None) -> list[Login]:
    data = _read(environ)
    return [
        Login(url, str(e["token"]), str(e.get("user", "")), str(e.get("key", "")))
        for url, e in sorted(data.get("servers", {}).items())
        if isinstance(e, dict) and e.get("token")
    ]


def save(login: Login, environ: dict[str, str] | None = None) -> Path:
    """Store ``login`` and make its server the default; returns the file's path."""
    data = _read(environ)
    servers = dict(data.get("servers", {}))
    url = normalize_url(login.url)
    servers[url] = {"token": login.token, "user": login.user, "key": login.key}
    return _write({"default": url, "servers": servers}, environ)


def forget(url: str, environ: dict[str, str] | None = None) -> Login | None:
    """Remove the stored login of ``url``; returns it (None when there was none)."""
    data = _read(environ)
    servers = dict(data.get("servers", {}))
    url = normalize_url(url)
    entry = servers.pop(url, None)
    default = data.get("default")
    if default == url:
        default = next(iter(sorted(servers)), None)
    if entry is None:
        return None
    _write({"default": default, "servers": servers}, environ)
    return Login(url, str(entry.get("token", "")), str(entry.get("user", "")), "")
