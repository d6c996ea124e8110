"""The read-only FastAPI app behind ``asiarch serve``: the JSON API and the one static page.

Only GET routes exist and the store is opened read-only, so the dashboard cannot change a campaign. Every
asset is served from the package (no CDN). The Content-Security-Policy forbids inline and foreign scripts,
a second line of defence behind the page's rule of inserting data as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse

from asiarch.store.db import Store
from asiarch.web import payloads
from asiarch.web.payloads import NotFound

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = ("index.html", "app.js", "style.css")
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 4
"""Starlette's default (9) spends ~100 ms on a 5,000-experiment list for a few % smaller; 4 is nearly as small."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def parse_groups(groups: list[str]) -> list[tuple[str, list[str]]]:
    """``LABEL:campaign1,campaign2`` per group, as the compare view sends them; a bad one is a one-line error."""
    parsed = []
    for text in groups:
        label, colon, names = text.partition(":")
        campaigns = [name for name in names.split(",") if name]
        if not colon or not label or not campaigns:
            raise ValueError(f"group {text!r} must look like LABEL:campaign1,campaign2")
        parsed.append((label, campaigns))
    if not parsed:
        raise ValueError("compare needs at least one group=LABEL:campaign1,campaign2")
    return parsed


def create_app(store: Store) -> FastAPI:
    """The app over an (already read-only) store."""
    app = FastAPI(title="asiarch observatory", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)

    @app.middleware("http")
    async def _secure(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def read(build: Callable[..., Any], *args: Any) -> Response:
        with store.session() as session:
            try:
                payload = build(session, *args)
            except NotFound as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from exc
        # Serialised directly: FastAPI's generic encoder walks every value and takes longer than the query itself
        # for a campaign of thousands of experiments. The payloads are plain JSON types already.
        return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")

    @app.get("/api/campaigns")
    def campaign_list() -> Response:
        return read(payloads.campaign_list)

    @app.get("/api/campaigns/{name}")
    def campaign_overview(name: str) -> Response:
        return read(payloads.campaign_overview, name)

    @app.get("/api/campaigns/{name}/version")
    def campaign_version(name: str) -> Response:
        return read(payloads.campaign_version, name)

    @app.get("/api/campaigns/{name}/experiments")
    def campaign_experiments(name: str) -> Response:
        return read(payloads.campaign_experiments, name)

    @app.get("/api/campaigns/{name}/curve")
    def campaign_curve(name: str) -> Response:
        return read(payloads.campaign_curve, name)

    @app.get("/api/experiments/{experiment_id}")
    def experiment_detail(experiment_id: int) -> Response:
        return read(payloads.experiment_detail, experiment_id)

    @app.get("/api/compare")
    def compare(group: Annotated[list[str] | None, Query()] = None) -> Response:
        try:
            groups = parse_groups(group or [])
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return read(payloads.compare, groups)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/{asset}")
    def asset(asset: str) -> FileResponse:
        if asset not in ASSETS:  # data.js exists only in static reports
            raise HTTPException(status_code=404, detail=f"no {asset} here")
        return FileResponse(STATIC_DIR / asset)

    return app
