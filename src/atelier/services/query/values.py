"""Result rows as JSON-safe values (the wire's own rule: :mod:`atelier.contract.values`)."""

from atelier.contract.values import json_rows

__all__ = ["json_rows"]
