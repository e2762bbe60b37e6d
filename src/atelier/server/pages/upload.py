"""Portal page: upload a file as a table (``/data/upload``).

The page itself is static; ``/static/upload.js`` sends the file to the uploads API with a
progress bar (XHR upload events), shows the preview with a type select per column, and
commits the upload by the id the preview returned, so the file travels once.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.ingest import COMMON_TYPES, MODES

router = APIRouter()

ACCEPT = ".csv,.tsv,.tab,.txt,.parquet,.pq,.json,.jsonl,.ndjson,.xlsx,.xlsm,.arrow,.feather,.gz"


@router.get("/data/upload")
def upload_page(request: Request, _: Principal = allow("admin", "scientist")) -> HTMLResponse:
    return render(request, "upload/page.html", types=COMMON_TYPES, modes=MODES, accept=ACCEPT)
