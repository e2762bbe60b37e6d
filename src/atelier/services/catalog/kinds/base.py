"""The one base class of the source kinds, and the checks their fields share."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from atelier.backends.warehouse import Attachment, SourceSpec, attachment
from atelier.errors import InvalidInput

_HOST = re.compile(r"[A-Za-z0-9_.:\-\[\]]{1,253}")


class SourceKind(ABC):
    """What one source type accepts (its option and secret names) and how it is attached.

    :meth:`clean` makes the checks every kind shares (secrets passed as options, unknown or
    missing fields, secrets that are not text) and hands the rest to :meth:`normalise`.
    """

    name: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    optional: ClassVar[tuple[str, ...]] = ()
    secrets: ClassVar[tuple[str, ...]] = ()

    def clean(
        self, options: dict[str, Any], secrets: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validated, normalised ``(options, secrets)``."""
        kind = self.name
        misplaced = sorted(set(options) & set(self.secrets))
        if misplaced:
            raise InvalidInput(
                f"{', '.join(misplaced)} is secret: pass it in secrets, not in options, "
                "so that it is stored apart and never shown"
            )
        unknown = sorted(set(options) - set(self.required) - set(self.optional))
        if unknown:
            allowed = ", ".join((*self.required, *self.optional))
            raise InvalidInput(
                f"a {kind} source has no option {', '.join(unknown)} (options: {allowed})"
            )
        unknown = sorted(set(secrets) - set(self.secrets))
        if unknown:
            allowed = ", ".join(self.secrets) or "none"
            raise InvalidInput(
                f"a {kind} source has no secret {', '.join(unknown)} (secrets: {allowed})"
            )
        values = {k: v for k, v in options.items() if v is not None and v != ""}
        missing = [name for name in self.required if name not in values]
        if missing:
            raise InvalidInput(f"a {kind} source needs {', '.join(missing)}")
        hidden: dict[str, str] = {}
        for key, value in secrets.items():
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise InvalidInput(f"secret {key} must be text")
            hidden[key] = value
        return self.normalise(values, hidden), hidden

    @abstractmethod
    def normalise(self, values: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        """The options to store, from the given ones (required present, none unknown)."""

    @abstractmethod
    def attach(self, alias: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
        """The read-only :class:`Attachment` of a stored source named ``alias``."""

    def _warehouse_attachment(
        self, alias: str, options: dict[str, Any], secrets: dict[str, str]
    ) -> Attachment:
        """Attached by the warehouse backend (:func:`atelier.backends.warehouse.attachment`)."""
        spec = SourceSpec(
            self.name,  # type: ignore[arg-type]
            host=options.get("host"),
            port=options.get("port"),
            database=options.get("database"),
            user=options.get("user"),
            password=secrets.get("password"),
            path=options.get("path"),
        )
        return attachment(alias, spec)


class ServerKind(SourceKind):
    """A database server reached by host and port, with a user and a password."""

    default_port: ClassVar[int]

    def normalise(self, values: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        host = text("host", values["host"])
        if not _HOST.fullmatch(host):
            raise InvalidInput(f"option host {host!r} is not a host name or address")
        result: dict[str, Any] = {"host": host, "port": port(values.get("port", self.default_port))}
        for key in ("database", "user"):
            if key in values:
                result[key] = text(key, values[key])
        return result

    def attach(self, alias: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
        return self._warehouse_attachment(alias, options, secrets)


class FileKind(SourceKind):
    """A file (or a folder of files) on the server's disk, named by ``path``."""

    required = ("path",)

    def normalise(self, values: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        values["path"] = str(
            self.check_path(Path(text("path", values["path"])).expanduser().resolve())
        )
        return values

    def check_path(self, path: Path) -> Path:
        if not path.exists():
            raise InvalidInput(f"option path: {path} does not exist")
        return path

    def attach(self, alias: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
        return self._warehouse_attachment(alias, options, secrets)


class DataFileKind(FileKind):
    """Files of one format: a file must carry the kind's suffix; a folder holds them."""

    def check_path(self, path: Path) -> Path:
        path = super().check_path(path)
        if path.is_file() and path.suffix != f".{self.name}":
            raise InvalidInput(f"option path: {path} is not a .{self.name} file")
        return path


def text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"option {name} must be non-empty text, got {value!r}")
    return value.strip()


def port(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or not 1 <= number <= 65535:
        raise InvalidInput(f"option port must be a number from 1 to 65535, got {value!r}")
    return number


def flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise InvalidInput(f"option {name} must be true or false, got {value!r}")
