"""The runtime inside a generated app's image: the model's runtime, plus the app's page at ``/``.

This module is copied into the image as ``atelier_app_runtime.py``, next to the model runtime
(:mod:`.runtime`, ``atelier_runtime.py``) that it extends, and runs as the image's entry point
(``python -m atelier_app_runtime``). It adds two routes and changes nothing else:

* ``GET /`` (and ``/index.html``): the app's form, made when the image was built from the
  model's signature and input example (``/app/page/index.html``);
* ``GET /app.js``: the script that sends the form's record to ``POST predict`` (the model
  runtime's route, same origin) and shows the answer.

``POST /predict`` and ``GET /health`` answer exactly as in the model's own image. The page is
served with a content security policy that allows its own script and requests to its own
origin only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

try:  # in Atelier (its tests)
    from atelier.services.containers.runtime import INFO_FILE, RuntimeModel, make_handler
except ImportError:  # in the image, where the model runtime is a top-level module
    from atelier_runtime import (  # type: ignore[no-redef]
        INFO_FILE,
        RuntimeModel,
        make_handler,
    )

#: Route: (file of the page folder, content type).
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
}
POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def app_handler(model: Any, page: Path) -> type[BaseHTTPRequestHandler]:
    """The model runtime's handler with the page's routes in front of its own."""
    pages = {route: ((page / file).read_bytes(), kind) for route, (file, kind) in PAGES.items()}
    base: Any = make_handler(model)

    class AppHandler(base):  # type: ignore[misc]
        def do_GET(self) -> None:
            found = pages.get(self.path.split("?", 1)[0])
            if found is None:
                super().do_GET()
                return
            body, kind = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

    handler: type[BaseHTTPRequestHandler] = AppHandler
    return handler


def serve(
    folder: Path, info: Mapping[str, Any], page: Path, host: str, port: int
) -> ThreadingHTTPServer:
    """A server for the model in ``folder`` and the page in ``page`` (not yet serving)."""
    server = ThreadingHTTPServer((host, port), app_handler(RuntimeModel(folder, info), page))
    server.daemon_threads = True
    return server


def main() -> None:
    folder = Path(os.environ.get("ATELIER_MODEL_DIR", "/app/model"))
    page = Path(os.environ.get("ATELIER_APP_PAGE", "/app/page"))
    info_path = folder.parent / INFO_FILE
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    port = int(os.environ.get("ATELIER_RUNTIME_PORT", "8080"))
    server = serve(folder, info, page, "0.0.0.0", port)
    sys.stderr.write(
        f"serving app {os.environ.get('ATELIER_APP', '?')} ({info.get('name')} version "
        f"{info.get('version')}) on :{port}\n"
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
