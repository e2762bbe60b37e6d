"""The REST API, ``/api/v1``: one module per resource."""

from fastapi import APIRouter

from atelier.contract import API_PREFIX
from atelier.server.api import (
    apps,
    audit,
    device,
    discussion,
    features,
    jobs,
    meta,
    models,
    pii,
    pii_grants,
    predict,
    projects,
    sources,
    sql,
    tables,
    tokens,
    uploads,
    users,
)

router = APIRouter(prefix=API_PREFIX)
for module in (meta, users, tokens, audit, tables, sources, sql, uploads, features, projects):
    router.include_router(module.router)
for module in (predict, apps):
    router.include_router(module.router)

router.include_router(jobs.router)
router.include_router(models.router)
router.include_router(device.router)
router.include_router(pii_grants.router)
router.include_router(pii.router)
router.include_router(discussion.router)

__all__ = ["router"]
