"""IPython magics for notebooks: ``%load_ext atelier``.

``%%sql`` runs the cell on the workspace (warehouse tables, attached sources) through
``atelier.connect()`` and returns a pandas DataFrame::

    %%sql
    SELECT segment, count(*) AS customers FROM bank.customers GROUP BY segment

    %%sql recent <<
    SELECT * FROM bank.transactions WHERE amount > {{threshold}} LIMIT 100

``NAME <<`` stores the result in the variable ``NAME`` instead of showing it;
``--format polars`` (or ``arrow``) changes what comes back; ``{{name}}`` is replaced by the
value of the notebook variable ``name`` (plain text substitution: quote strings yourself).

``%atelier_env add PKG...``, ``%atelier_env remove PKG...`` and ``%atelier_env show`` change or
show the environment of the kernel's project (``ATELIER_PROJECT``), as ``atelier env`` does.
"""

from __future__ import annotations

import importlib
import re
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from atelier.errors import AtelierError

FORMATS = ("pandas", "polars", "arrow")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SQL_USAGE = (
    "usage: %%sql [NAME <<] [--format pandas|polars|arrow], then the query on the next lines"
)
ENV_USAGE = "usage: %atelier_env add PKG[==VERSION]... | remove PKG... | show"


def parse_sql_line(line: str) -> tuple[str | None, str]:
    """``(variable, format)`` from the ``%%sql`` line."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%sql: {exc}; {SQL_USAGE}") from None
    target, format = None, "pandas"
    while words:
        word = words.pop(0)
        if word == "--format" and words:
            format = words.pop(0)
            if format not in FORMATS:
                raise UsageError(f"%%sql: unknown format {format!r}; {SQL_USAGE}")
        elif words[:1] == ["<<"] and word.isidentifier() and target is None:
            target = word
            words.pop(0)
        elif word.endswith("<<") and word[:-2].isidentifier() and target is None:
            target = word[:-2]
        else:
            raise UsageError(f"%%sql: did not understand {word!r}; {SQL_USAGE}")
    return target, format


def interpolate(query: str, namespace: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in namespace:
            raise UsageError(f"%%sql: {{{{{name}}}}} names no variable of this notebook")
        return str(namespace[name])

    return PLACEHOLDER.sub(value, query)


def changes(
    before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str | None, str | None]]:
    """``(package, old version, new version)`` for every locked package that changed."""
    old = {p["name"]: p["version"] for p in before.get("packages", [])}
    new = {p["name"]: p["version"] for p in after.get("packages", [])}
    return [
        (name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def imported(packages: list[str]) -> list[str]:
    """Those of ``packages`` (distribution names) with a module imported in this process."""
    from importlib.metadata import packages_distributions

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    wanted = {normal(p) for p in packages}
    found = set()
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            if normal(distribution) in wanted and module in sys.modules:
                found.add(distribution)
    return sorted(found)


@magics_class
class AtelierMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import atelier

            self._client = atelier.connect()
        return self._client

    @property
    def namespace(self) -> dict[str, Any]:
        assert self.shell is not None, "the magics are registered with a shell"
        user_ns: dict[str, Any] = self.shell.user_ns
        return user_ns

    @cell_magic
    def sql(self, line: str, cell: str) -> Any:
        """Run the cell as SQL on the workspace; see ``%load_ext atelier``."""
        target, format = parse_sql_line(line)
        namespace = self.namespace
        query = interpolate(cell, namespace).strip()
        if not query:
            raise UsageError(f"%%sql: the cell holds no query; {SQL_USAGE}")
        try:
            result = self.client.sql(query, format=format)
        except AtelierError as exc:
            raise UsageError(str(exc)) from None
        if target is not None:
            namespace[target] = result
            return None
        return result

    @line_magic
    def atelier_env(self, line: str) -> None:
        """Change or show the packages of this kernel's project environment."""
        words = line.split()
        if not words or words[0] not in ("add", "remove", "show"):
            raise UsageError(ENV_USAGE)
        verb, packages = words[0], words[1:]
        if verb != "show" and not packages:
            raise UsageError(f"%atelier_env {verb}: name at least one package; {ENV_USAGE}")
        try:
            before = self.client.env_show()
            if verb == "show":
                _print_environment(before)
                return
            change = self.client.env_add if verb == "add" else self.client.env_remove
            after = change(*packages)
        except AtelierError as exc:
            raise UsageError(str(exc)) from None
        changed = changes(before, after)
        if not changed:
            print("Nothing changed: the environment already had that.")
            return
        for name, old, new in changed:
            if old is None:
                print(f"+ {name} {new}")
            elif new is None:
                print(f"- {name} {old}")
            else:
                print(f"~ {name} {old} -> {new}")
        importlib.invalidate_caches()  # new packages import without a restart
        stale = imported([name for name, old, _ in changed if old is not None])
        if stale:
            print(
                f"Restart the kernel to use the new version of {', '.join(stale)}: "
                "this kernel has the old one imported."
            )


def _print_environment(environment: dict[str, Any]) -> None:
    print(f"Project {environment.get('project', '')}: {', '.join(environment['requirements'])}")
    for package in environment["packages"]:
        marker = "*" if package.get("direct") else " "
        print(f" {marker} {package['name']} {package['version']}")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(AtelierMagics)
