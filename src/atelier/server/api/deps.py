"""Shared route helpers."""

from __future__ import annotations

from fastapi import Request

from atelier.services.workbench import Workbench


def workbench(request: Request) -> Workbench:
    wb: Workbench = request.app.state.workbench
    return wb


def client(request: Request) -> str | None:
    return request.client.host if request.client else None
