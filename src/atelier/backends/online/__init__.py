"""Online stores: the latest feature values per entity, for lookups by key while serving.

::

    store = open_store(settings.features, workspace.root)     # features.online_store names it
    store.replace("spend", schema, [(encode_key([42]), record), ...])
    schema, records = store.read("spend", [encode_key([42])])

A store implements :class:`OnlineStore` (``replace``, ``upsert``, ``read``, ``drop``), lives in
one module and is registered by name in :data:`STORES`:

* ``sqlite`` (:mod:`.sqlite`) — a SQLite file in the workspace
  (``data/online_features.sqlite``), the default;
* ``redis`` (:mod:`.redis`) — ``features.redis_url``; one string per entity and view.

A record is a JSON list ``[event_ns, value, ...]`` in the order of the view's columns, stored
with the view's column names and Arrow types so values come back with their types
(:mod:`.records`). The feature store (``services/features/serving.py``) decides what to write;
a store only keeps it.
"""

from atelier.backends.online.base import OnlineStore, OnlineStoreError, Record
from atelier.backends.online.records import encode_key, from_values, to_records
from atelier.backends.online.registry import STORES, open_store

__all__ = [
    "STORES",
    "OnlineStore",
    "OnlineStoreError",
    "Record",
    "encode_key",
    "from_values",
    "open_store",
    "to_records",
]
