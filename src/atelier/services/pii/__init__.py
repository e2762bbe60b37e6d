"""Personal data in tables: which columns hold it, of which kind, and how sure we are.

``classify(table)`` samples a pyarrow Table (or takes a mapping of sampled values), looks at
each column's name and values, and returns a ``ColumnFinding`` per column that holds personal
data: its ``PiiKind``, a confidence and evidence that never quotes a value. Recognisers use
``python-stdnum`` for checksums (cards, IBANs, two dozen national identifiers) and
``phonenumbers`` for phones; nothing is downloaded at run time. See docs/personal-data.md.
"""

from atelier.services.pii.classify import classify, classify_column
from atelier.services.pii.kinds import ColumnFinding, PiiKind
from atelier.services.pii.tables import PiiClassifier

__all__ = ["ColumnFinding", "PiiClassifier", "PiiKind", "classify", "classify_column"]
