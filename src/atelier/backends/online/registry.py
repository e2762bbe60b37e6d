"""Online stores by name; ``features.online_store`` in the settings picks one."""

from __future__ import annotations

from pathlib import Path

from atelier.backends.online.base import OnlineStore
from atelier.backends.online.redis import RedisOnlineStore
from atelier.backends.online.sqlite import SqliteOnlineStore
from atelier.config.settings import FeatureSettings
from atelier.errors import ConfigError

STORES: dict[str, type[OnlineStore]] = {
    SqliteOnlineStore.name: SqliteOnlineStore,
    RedisOnlineStore.name: RedisOnlineStore,
}


def open_store(settings: FeatureSettings, root: Path) -> OnlineStore:
    """The online store the settings name."""
    store = STORES.get(settings.online_store)
    if store is None:
        raise ConfigError(
            f"online store {settings.online_store!r} is unknown (have {', '.join(sorted(STORES))})"
        )
    return store(settings, root)
