"""CSV files: one ``.csv`` file, or a folder with one view per file or sub-folder."""

from __future__ import annotations

from atelier.services.catalog.kinds.base import DataFileKind


class CsvKind(DataFileKind):
    name = "csv"
