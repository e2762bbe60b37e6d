"""Backends: the narrow interfaces to storage and engines (metadata, warehouse, compute)."""
