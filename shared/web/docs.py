"""`/docs` (Swagger UI) and `/redoc` served from files in the project's dependencies, never from a CDN.

FastAPI's own pages load Swagger UI from jsDelivr, so on an intranet without internet they are blank. The
`fastapi-offline` package ships the Swagger UI and ReDoc files; every service serves them under
`/static/docs/` and its pages point there.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/static/docs"
_FASTAPI_DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc"}


def offline_docs(app: FastAPI) -> None:
    """Replace FastAPI's CDN-backed documentation pages with ones served from local files."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in _FASTAPI_DOCS]
    app.mount(PREFIX, StaticFiles(directory=str(ASSETS)), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{title} · 接口文档",
                                   swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/swagger-ui.css", swagger_favicon_url="data:,",
                                   oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{title} · 接口文档",
                              redoc_js_url=f"{PREFIX}/redoc.standalone.js", redoc_favicon_url="data:,",
                              with_google_fonts=False)
