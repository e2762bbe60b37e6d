"""Column profiles of warehouse and source tables, computed by DuckDB.

::

    profile = wb.profiles.profile("bank.transactions")            # or version=3
    profile.column("amount").histogram                            # Bin(low, high, count)…
    profile.as_dict()                                             # JSON-safe

Two DuckDB aggregate queries: the first gives what ``SUMMARIZE`` gives (counts, min/max,
distinct estimates, mean, standard deviation, quartiles), the second the top values and
histograms. The table is never loaded into Python.
"""

from atelier.services.profile.model import Bin, ColumnKind, ColumnProfile, Profile
from atelier.services.profile.profiler import Profiler, kind_of

__all__ = ["Bin", "ColumnKind", "ColumnProfile", "Profile", "Profiler", "kind_of"]
