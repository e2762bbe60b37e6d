"""Turning DuckDB values into what JSON (and a Jinja template) can carry, without pandas (the
wire's own rule: :mod:`atelier.contract.values`)."""

from atelier.contract.values import json_safe

__all__ = ["json_safe"]
