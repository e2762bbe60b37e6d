"""The portal: server-rendered pages (Jinja2 + HTMX), one module per page type.

``mlflow`` (MLflow's UI and API behind the login) is included by the app itself, ahead of
every other route (see ``atelier.server.app``)."""

from fastapi import APIRouter

from atelier.server.pages import (
    activity,
    admin,
    apps,
    collab,
    data,
    experiments,
    features,
    home,
    jobs,
    login,
    models,
    notebooks,
    projects,
    sql,
    upload,
)

router = APIRouter(include_in_schema=False)
for module in (
    login,
    home,
    admin,
    upload,
    sql,
    features,
    data,
    notebooks,
    collab,
    projects,
):
    router.include_router(module.router)
router.include_router(apps.router)
router.include_router(jobs.router)
router.include_router(experiments.router)
router.include_router(models.router)
router.include_router(activity.router)

__all__ = ["router"]
