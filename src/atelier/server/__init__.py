"""The Atelier server: REST API under ``/api/v1``, the portal pages, and (later) the gateway.

Every route is authenticated by default (see :mod:`atelier.server.security`); the app refuses
to start if a route forgets to say which roles may use it.
"""
