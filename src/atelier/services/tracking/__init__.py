"""Experiments and the model registry: MLflow inside Atelier.

MLflow's tracking server runs as a child process of the Atelier server on a private Unix
socket (:class:`TrackingServer`), keeping runs in the metadata database and artifacts on
workspace storage (:class:`TrackingStore`); users reach it only through Atelier's ``/mlflow``.
"""

from atelier.services.tracking.server import TrackingServer, TrackingUnavailable
from atelier.services.tracking.store import TrackingStore, tracking_uri_for_server

__all__ = ["TrackingServer", "TrackingStore", "TrackingUnavailable", "tracking_uri_for_server"]
