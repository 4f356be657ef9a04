"""The process's one FastAPI app of routes, shared by every easel app instance.

FastAPI builds each route's dependency graph and pydantic fields per app that
includes the router: on this project's ~70 routes that is a few hundred
milliseconds, paid on the first request to each route. A process builds the
routes once here and warms them at start; each `create_app` instance wraps
them with its own services, lifespan and middleware (see `easel.api.app`).
Handlers find their instance's services through the request scope
(`easel.api.deps.get_services`), never through the shared app.
"""

from __future__ import annotations

import functools

from fastapi import FastAPI

from easel import __version__
from easel.api import health, openapi, studio
from easel.api.admin import organizations as admin_organizations
from easel.api.docs import install_docs
from easel.api.errors import install_error_handlers
from easel.api.middleware import RequestContextMiddleware
from easel.api.v1 import engines as v1_engines
from easel.api.v1 import generation as v1_generation
from easel.api.v1 import jobs as v1_jobs
from easel.api.v1 import keys as v1_keys
from easel.api.v1 import user as v1_user
from easel.api.v2beta import control as v2beta_control
from easel.api.v2beta import edit as v2beta_edit
from easel.api.v2beta import results as v2beta_results
from easel.api.v2beta import stable_image as v2beta_stable_image
from easel.api.v2beta import three_d as v2beta_three_d
from easel.api.v2beta import video as v2beta_video

ROUTERS = (
    health.router,
    v1_user.router,
    v1_keys.router,
    v1_engines.router,
    v1_generation.router,
    v1_jobs.router,
    v2beta_stable_image.router,
    v2beta_edit.router,
    v2beta_results.router,
    v2beta_video.router,
    v2beta_three_d.router,
    v2beta_control.router,
    admin_organizations.router,
    studio.router,
)


@functools.cache
def routes_app() -> FastAPI:
    """Every easel route, its error handlers, `/docs` and `/openapi.json`; built once."""
    app = FastAPI(
        title="easel",
        version=__version__,
        description="A self-hosted implementation of the Stability AI REST API.",
        # /docs is served with local assets by install_docs; ReDoc would need a CDN
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # Inside the last-resort 500 handler and outside the exception handlers.
    app.add_middleware(RequestContextMiddleware)
    install_docs(app)
    openapi.install(app)
    for router in ROUTERS:
        app.include_router(router)
    # Building the document builds every route's dependencies too, so no first request
    # to a route pays for it (FastAPI builds them lazily, a few ms per route).
    app.openapi()
    return app
