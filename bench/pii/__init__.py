"""Personal-data classification: precision and recall per kind on a labelled corpus of columns
(``bench/pii/corpus.py``), and the time to classify a 50-column, 1M-row table.
See ``bench/pii/classify.py``."""

from bench.pii.classify import run

__all__ = ["run"]
