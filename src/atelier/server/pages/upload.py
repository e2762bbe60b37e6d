"""Portal page: upload a file as a table (``/data/upload``).

The page itself is static; ``/static/upload.js`` sends the file to the uploads API with a
progress bar (XHR upload events), shows the preview with a type select per column, and
commits the upload by the id the preview returned, so the file travels once. The person
chooses the schema among those they may write (``?schema=`` preselects one).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from atelier.server.api.deps import workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.ingest import COMMON_TYPES, MODES

router = APIRouter()

ACCEPT = ".csv,.tsv,.tab,.txt,.parquet,.pq,.json,.jsonl,.ndjson,.xlsx,.xlsm,.arrow,.feather,.gz"


@router.get("/data/upload")
def upload_page(
    request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    # The schemas this person may upload into (main, their own, their projects'); the
    # ingest service checks the choice again when the upload is committed.
    schemas = workbench(request).ingest.schemas(principal)
    chosen = request.query_params.get("schema", "")
    return render(
        request,
        "upload/page.html",
        types=COMMON_TYPES,
        modes=MODES,
        accept=ACCEPT,
        schemas=schemas,
        chosen=chosen if chosen in {s.schema for s in schemas} else "main",
    )
