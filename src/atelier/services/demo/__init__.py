"""Demo data: a deterministic synthetic bank warehouse (``atelier up --demo``, tests, docs).

``generate(con, scale=1.0, seed=42)`` writes customers (with PII), accounts, two years of
transactions, support tickets and monthly churn labels into a DuckDB/DuckLake schema; see
:mod:`atelier.services.demo.bank` for the data model. :func:`.load.load_demo` loads it into a
workspace once; :func:`.model.publish_demo_app` then trains, registers and publishes the demo
churn model and its app.
"""

from atelier.services.demo.bank import TABLES, generate

__all__ = ["TABLES", "generate"]
