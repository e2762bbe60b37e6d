"""Backends by name. Built-in ones are imported on first use, so naming them costs nothing."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from atelier.errors import ConfigError

if TYPE_CHECKING:
    from atelier.backends.compute.base import ComputeBackend
    from atelier.config.settings import ComputeSettings

_BACKENDS: dict[str, str | type[ComputeBackend]] = {
    "local": "atelier.backends.compute.local:LocalBackend",
    "ray": "atelier.backends.compute.ray:RayBackend",
}


def register(name: str, backend: str | type[ComputeBackend]) -> None:
    """Make ``backend`` (a class, or ``"module:Class"``) available as ``name``."""
    _BACKENDS[name] = backend


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def backend_class(name: str) -> type[ComputeBackend]:
    target = _BACKENDS.get(name)
    if target is None:
        raise ConfigError(
            f"compute backend {name!r} is unknown (have {', '.join(backend_names())})"
        )
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        cls: type[ComputeBackend] = getattr(importlib.import_module(module), attribute)
        _BACKENDS[name] = cls
        return cls
    return target


def open_backend(name: str, settings: ComputeSettings) -> ComputeBackend:
    return backend_class(name)(settings)
