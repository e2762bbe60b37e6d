"""Notebooks: each user's JupyterLab server, with one kernel per project environment.

:class:`NotebookServers` starts a user's Jupyter server on demand (listening on a private Unix
socket, behind its own token), keeps its kernelspecs in step with the user's projects, and
stops it when idle or when Atelier stops. The gateway (``atelier.server.pages.notebooks``)
authenticates users and proxies ``/notebooks/`` to it.
"""

from atelier.services.notebooks.kernelspecs import (
    display_name,
    kernel_name,
    kernelspec,
    write_kernelspecs,
)
from atelier.services.notebooks.servers import (
    BASE_URL,
    JupyterServer,
    NotebookServerElsewhere,
    NotebookServerFailed,
    NotebookServers,
    server_url,
)
from atelier.services.notebooks.starter import STARTER, starter_notebook

__all__ = [
    "BASE_URL",
    "STARTER",
    "JupyterServer",
    "NotebookServerElsewhere",
    "NotebookServerFailed",
    "NotebookServers",
    "display_name",
    "kernel_name",
    "kernelspec",
    "server_url",
    "starter_notebook",
    "write_kernelspecs",
]
