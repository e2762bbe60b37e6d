"""The SQL page (``/data/sql``): an editor, the result grid, a chart of the result, the history,
the schema browser and the saved queries.

The editor is a plain textarea that CodeMirror (``static/codemirror.min.js``, driven by
``sql.js``) takes over when scripts run: SQL highlighting, and completion of schemas, tables
and columns from ``GET /api/v1/sql/schema``, which also fills the schema browser. Without
scripts the textarea and its forms still run, save and download.

Save posts the editor's statement with a name (``/data/sql/save``): the caller's query of that
name is created or changed. ``?saved=ID`` opens a saved query in the editor; the owner or an
admin deletes one (``/data/sql/saved/ID/delete``). The rules are the saved-query service's.

Run posts the editor with HTMX and gets the result fragment back (the grid holds the first
``query.page_rows`` rows; every row is still read, to count them). The page tags each run
with a random key, so that Cancel can find that query while its request is still waiting.

Download CSV / Parquet posts the editor's statement to ``/data/sql/download``, which streams
the whole result as a file, as ``POST /api/v1/sql/download`` does: a file leaves the server,
so personal data in it is raw only with an export grant (the grid itself is shown raw with a
raw grant).
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.api.sql import download_response
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter()

HISTORY_ROWS = 30


def _page_context(request: Request, principal: Principal) -> dict[str, Any]:
    wb = workbench(request)
    saved = wb.saved_queries.visible(principal)
    return {
        "history": wb.query.history(principal.name, HISTORY_ROWS),
        "saved": [(q, q.editable_by(principal)) for q in saved],
        "page_rows": wb.settings.query.page_rows,
        "timeout": wb.settings.query.timeout_seconds,
    }


@router.get("/data/sql")
def sql_page(
    request: Request,
    table: str = "",
    sql: str = "",
    saved: int | None = None,
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    opened = None
    if saved is not None:
        try:
            opened = workbench(request).saved_queries.get(principal, saved)
        except AtelierError as exc:
            status = getattr(exc, "status_code", 400)
            result = {"error": str(exc), "status": status}
            context = _page_context(request, principal)
            return render(
                request, "sql/page.html", status_code=status, sql=sql, result=result, **context
            )
        sql = opened.sql
    if not sql and table:
        sql = f"SELECT * FROM {table} LIMIT 100"
    return render(
        request,
        "sql/page.html",
        sql=sql,
        result=None,
        opened=opened,
        **_page_context(request, principal),
    )


@router.post("/data/sql/save")
def save_query(
    request: Request,
    sql: str = Form(""),
    name: str = Form(""),
    shared: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> Response:
    """Save the editor's statement under ``name`` (the caller's query of that name is changed).
    HTMX gets the saved list back (or the error, 422 and the like); a plain form post goes
    back to the page with the query open, or the page with the error shown."""
    wb = workbench(request)
    try:
        query = wb.saved_queries.save(principal, name, sql, shared=bool(shared))
    except AtelierError as exc:
        status = getattr(exc, "status_code", 400)
        if request.headers.get("HX-Request"):
            return HTMLResponse(f"Not saved: {html.escape(str(exc))}", status_code=status)
        result = {"error": f"Not saved: {exc}", "status": status}
        context = _page_context(request, principal)
        return render(
            request, "sql/page.html", status_code=status, sql=sql, result=result, **context
        )
    if request.headers.get("HX-Request"):
        context = _page_context(request, principal)
        return render(request, "sql/_saved.html", opened=query, **context)
    return RedirectResponse(f"/data/sql?saved={query.id}", status_code=303)


@router.post("/data/sql/saved/{saved_id}/delete")
def delete_saved(
    saved_id: int, request: Request, principal: Principal = allow("admin", "scientist")
) -> Response:
    """Delete a saved query (its owner or an admin), then back to the page."""
    try:
        workbench(request).saved_queries.delete(principal, saved_id)
    except AtelierError as exc:
        status = getattr(exc, "status_code", 400)
        result = {"error": f"Not deleted: {exc}", "status": status}
        context = _page_context(request, principal)
        return render(
            request, "sql/page.html", status_code=status, sql="", result=result, **context
        )
    return RedirectResponse("/data/sql", status_code=303)


@router.post("/data/sql/run")
def run_query(
    request: Request,
    sql: str = Form(""),
    key: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    """The result fragment for HTMX (with the history swapped in too), else the whole page."""
    result = _run(request, principal, sql, key[:64] or None)
    context = _page_context(request, principal)
    if request.headers.get("HX-Request"):
        return render(request, "sql/_result.html", result=result, oob_history=True, **context)
    return render(request, "sql/page.html", sql=sql, result=result, **context)


@router.post("/data/sql/download")
async def download_query(
    request: Request,
    sql: str = Form(""),
    format: str = Form("csv"),
    principal: Principal = allow("admin", "scientist"),
) -> Response:
    """The whole result of the editor's statement as a CSV or Parquet file. A statement or
    format refused before the file starts answers the SQL page with the error shown (and its
    status), the statement still in the editor."""
    try:
        return await download_response(request, principal, sql, format)
    except AtelierError as exc:
        status = getattr(exc, "status_code", 400)
        result = {"error": f"Download failed: {exc}", "status": status}
        context = await run_in_threadpool(_page_context, request, principal)
        return render(
            request, "sql/page.html", status_code=status, sql=sql, result=result, **context
        )


@router.post("/data/sql/cancel")
def cancel_query(
    request: Request, key: str = Form(""), principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    wb = workbench(request)
    found = [q for q in wb.query.running(principal.name) if key and q.key == key]
    if not found:
        return HTMLResponse("Nothing to cancel: the query has already finished.")
    query_id = found[0].query_id
    try:
        wb.query.cancel(query_id, principal=principal, client=client(request))
    except AtelierError as exc:
        return HTMLResponse(f"Could not cancel: {html.escape(str(exc))}")
    return HTMLResponse(f"Cancelling query {query_id}…")


@router.get("/data/sql/history")
def history_fragment(
    request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return render(request, "sql/_history.html", **_page_context(request, principal))


def _run(request: Request, principal: Principal, sql: str, key: str | None) -> dict[str, Any]:
    from atelier.services.query import chart_spec, json_rows
    from atelier.services.query.chart import MARKS, default_axes, vega_type

    wb = workbench(request)
    try:
        # Shown in the portal: raw with a grant; a token scraping the page counts as remote.
        remote = principal.via != "session"
        with wb.query.run(
            sql, principal=principal, key=key, remote=remote, client=client(request)
        ) as result:
            table, total = result.preview(wb.settings.query.page_rows)
    except AtelierError as exc:
        return {"error": str(exc), "status": getattr(exc, "status_code", 400)}
    rows = json_rows(table)
    columns = result.columns
    axes = default_axes(columns)
    spec = chart_spec(columns, rows)
    color = spec["encoding"].get("color", {}).get("title") if spec else None
    return {
        "query_id": result.query_id,
        "columns": columns,
        "numeric": [vega_type(c.type) == "quantitative" for c in columns],
        "rows": rows,
        "total": total,
        "duration_ms": result.duration_ms or 0.0,
        "chart": spec,
        "color": color,
        "fields": {c.name: vega_type(c.type) for c in columns},
        "axes": axes,
        "marks": MARKS,
    }
