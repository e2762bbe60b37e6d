"""Projects are git repositories: made with one at creation, or cloned from one.

A new project's folder is a repository with a first commit authored by its creator; JupyterLab's
git panel (jupyterlab-git) and notebook-aware diffs (nbdime) work on it, and commits made there
carry the Atelier user's name (the notebook server's environment names them, see
:func:`identity`). ``atelier projects create --from URL`` clones instead.

Cloning runs git on the server with a URL a user gives, so it is fenced: remote URLs must use
https, ssh or git (git's ``ext::`` and other transports are refused by
``GIT_ALLOW_PROTOCOL``); a local repository (a path or ``file://``) only below a folder the
admin lists in ``[projects] clone_roots``, checked on the resolved path; no credential prompt
ever waits; submodules are not fetched.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from atelier.config.child_env import without_server_secrets
from atelier.errors import InvalidInput

#: How long a clone may take.
CLONE_SECONDS = 300
#: ``user@host:path``, git's scp-like spelling of an ssh URL.
SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)")
REMOTE_SCHEMES = ("https", "ssh", "git")


def git_host(public_url: str) -> str:
    """The host of the e-mail addresses git records: the server's public name, if it has one."""
    return urlsplit(public_url).hostname or "" if public_url else ""


def email(user: str, host: str = "") -> str:
    """The address git records for Atelier user ``user``."""
    return f"{user}@{host or 'atelier.localhost'}"


def identity(user: str, host: str = "") -> dict[str, str]:
    """The environment that makes git author and commit as Atelier user ``user``; also as
    ``user.name``/``user.email`` configuration, which JupyterLab's git panel looks for before
    it commits."""
    address = email(user, host)
    return {
        "GIT_AUTHOR_NAME": user,
        "GIT_AUTHOR_EMAIL": address,
        "GIT_COMMITTER_NAME": user,
        "GIT_COMMITTER_EMAIL": address,
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "user.name",
        "GIT_CONFIG_VALUE_0": user,
        "GIT_CONFIG_KEY_1": "user.email",
        "GIT_CONFIG_VALUE_1": address,
    }


def _env(extra: dict[str, str], protocols: str) -> dict[str, str]:
    env = {k: v for k, v in without_server_secrets(os.environ).items() if not k.startswith("GIT_")}
    env.update(
        extra,
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=protocols,
        GIT_CONFIG_NOSYSTEM="1",
        # No pager, editor or askpass program is ever started.
        GIT_PAGER="cat",
        GIT_EDITOR="true",
        GIT_ASKPASS="true",
        SSH_ASKPASS="true",
    )
    return env


def _git(folder: Path, args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    try:
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise InvalidInput("git is not installed on the server") from None
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"git {args[0]} took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise InvalidInput(f"git {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def init(folder: Path, user: str, host: str, message: str) -> None:
    """Make ``folder`` a repository on branch ``main`` with everything in one first commit."""
    env = _env(identity(user, host), "file")
    _git(folder, ["init", "--quiet", "--initial-branch=main"], env)
    enable_nbdime(folder)
    _git(folder, ["add", "--all"], env)
    _git(folder, ["commit", "--quiet", "--no-verify", "-m", message], env)


def enable_nbdime(folder: Path) -> None:
    """Notebook-aware ``git diff`` and merges in this repository (its own config only)."""
    import sys

    env = _env({}, "file")
    nbdime = f"{sys.executable} -m nbdime.vcs.git"
    for key, value in (
        ("diff.jupyternotebook.command", f"{nbdime}.diffdriver diff"),
        ("merge.jupyternotebook.driver", f"{nbdime}.mergedriver merge %O %A %B %L %P"),
        ("merge.jupyternotebook.name", "jupyter notebook merge driver"),
    ):
        _git(folder, ["config", "--local", key, value], env)
    attributes = folder / ".git" / "info" / "attributes"
    attributes.parent.mkdir(parents=True, exist_ok=True)
    attributes.write_text("*.ipynb diff=jupyternotebook merge=jupyternotebook\n", encoding="utf-8")


def shown(url: str) -> str:
    """``url`` without the credentials it may carry (``https://user:token@host/...``)."""
    parts = urlsplit(url.strip())
    if parts.scheme and parts.hostname and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return url.strip()


def check_url(url: str, clone_roots: list[str]) -> tuple[str, str]:
    """The URL to clone and the transports git may use for it; refused with the reason."""
    url = url.strip()
    if not url or url.startswith("-") or any(c in url for c in "\0\n\r"):
        raise InvalidInput(f"git URL {shown(url)!r} is not a repository address")
    if "::" in url.split("/", 1)[0]:
        raise InvalidInput(f"git URL {url!r}: git's transport helpers (ext::...) are not allowed")
    if SCP_LIKE.match(url):
        return url, "ssh"
    parts = urlsplit(url)
    if parts.scheme in REMOTE_SCHEMES:
        if not parts.hostname:
            raise InvalidInput(f"git URL {url!r} names no host")
        return url, parts.scheme
    if parts.scheme not in ("", "file"):
        raise InvalidInput(
            f"git URL {url!r}: use https://, ssh:// or git://, or a local repository below a "
            "folder in [projects] clone_roots"
        )
    local = Path(parts.path if parts.scheme == "file" else url).expanduser()
    if not local.is_absolute():
        raise InvalidInput(f"git URL {url!r}: a local repository is named by its absolute path")
    resolved = local.resolve()
    roots = [Path(r).expanduser().resolve() for r in clone_roots]
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        allowed = ", ".join(str(r) for r in roots) or "none are configured"
        raise InvalidInput(
            f"git URL {url!r}: local repositories are cloned only from below the folders in "
            f"[projects] clone_roots ({allowed})"
        )
    return str(resolved), "file"


def clone_env(extra: dict[str, str], protocols: str, home: Path) -> dict[str, str]:
    """The environment of a user's clone: none of the server's git or ssh credentials (its
    home's config, keys, netrc, credential helpers, ssh agent) may open a repository."""
    env = _env(extra, protocols)
    env.pop("SSH_AUTH_SOCK", None)
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_COUNT=str(count + 1),
        GIT_SSH_COMMAND=(
            f"ssh -F {os.devnull} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes"
        ),
    )
    env[f"GIT_CONFIG_KEY_{count}"] = "credential.helper"
    env[f"GIT_CONFIG_VALUE_{count}"] = ""
    return env


def clone(url: str, target: Path, clone_roots: list[str], user: str, host: str) -> None:
    """Clone ``url`` into ``target`` (which must not exist)."""
    import tempfile

    source, protocols = check_url(url, clone_roots)
    args = ["clone", "--quiet", "--no-recurse-submodules", "--", source, str(target)]
    with tempfile.TemporaryDirectory(prefix="atelier-clone-home-") as home:
        env = clone_env(identity(user, host), protocols, Path(home))
        try:
            _git(target.parent, args, env, timeout=CLONE_SECONDS)
        except InvalidInput as exc:
            raise InvalidInput(
                f"could not clone {shown(url)}: {str(exc).replace(url, shown(url))}"
            ) from None
    enable_nbdime(target)


def commit_all(folder: Path, user: str, host: str, message: str) -> bool:
    """Commit every change in ``folder`` as ``user``; False when there was nothing to commit."""
    env = _env(identity(user, host), "file")
    _git(folder, ["add", "--all"], env)
    if not _git(folder, ["status", "--porcelain"], env).strip():
        return False
    _git(folder, ["commit", "--quiet", "--no-verify", "-m", message], env)
    return True
