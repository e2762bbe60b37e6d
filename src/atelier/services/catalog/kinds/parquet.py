"""Parquet files: one ``.parquet`` file, or a folder with one view per file or sub-folder
(hive partitions read)."""

from __future__ import annotations

from atelier.services.catalog.kinds.base import DataFileKind


class ParquetKind(DataFileKind):
    name = "parquet"
