"""The observatory as a folder of files: the dashboard's page with its data baked into ``data.js``.

A report must open from disk (file://, where the page cannot fetch) and be mailable, so the same page the
server sends reads ``window.ASIARCH_DATA`` instead: a map from API path to the very payload the server
would return (``asiarch.web.payloads``). Experiment details are the bulk (code, diffs, curves); a report
carries them for the best experiments and every promoted one or discovery, and the page says when one is
left out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from asiarch.store.schema import Campaign, Experiment
from asiarch.web import payloads
from asiarch.web.app import ASSETS, STATIC_DIR

DATA_JS = "data.js"
URI_COMPONENT_SAFE = "!'()*"
"""Characters JavaScript's encodeURIComponent leaves alone beyond quote()'s own: the page builds its keys so."""
KEPT_STATUSES = ("promoted", "discovery")
"""Experiments whose detail is always in the report, however many there are."""


def site_data(session: Session, campaign: Campaign, details: int, curve_png: str | None) -> dict[str, Any]:
    """Every API payload the page asks for in this campaign, keyed by its path."""
    name = campaign.name
    path = quote(name, safe=URI_COMPONENT_SAFE)
    overview = payloads.campaign_overview(session, name) | {"curve_png": curve_png}
    data: dict[str, Any] = {
        "/api/campaigns": [c for c in payloads.campaign_list(session) if c["name"] == name],
        f"/api/campaigns/{path}": overview,
        f"/api/campaigns/{path}/version": payloads.campaign_version(session, name),
        f"/api/campaigns/{path}/experiments": payloads.campaign_experiments(session, name),
        f"/api/campaigns/{path}/curve": payloads.campaign_curve(session, name),
        f"/api/compare?group=A:{path}": payloads.compare(session, [("A", [name])]),
    }
    for experiment_id in detailed_ids(session, campaign, details):
        data[f"/api/experiments/{experiment_id}"] = payloads.experiment_detail(session, experiment_id)
    return data


def detailed_ids(session: Session, campaign: Campaign, details: int) -> list[int]:
    """The ``details`` best-scored experiments plus every promoted one and discovery."""
    best = session.scalars(
        select(Experiment.id)
        .where(Experiment.campaign_id == campaign.id, Experiment.fitness.is_not(None))
        .order_by(Experiment.fitness.desc(), Experiment.id)
        .limit(details)
    )
    kept = session.scalars(
        select(Experiment.id).where(Experiment.campaign_id == campaign.id, Experiment.status.in_(KEPT_STATUSES))
    )
    return sorted(set(best) | set(kept))


def write_site(data: dict[str, Any], out: Path) -> Path:
    """The page, its assets and ``data.js`` in ``out``; returns the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS:
        shutil.copyfile(STATIC_DIR / asset, out / asset)
    # "<" is escaped so no string in the data can close a script element, whatever the page does with the file.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    (out / DATA_JS).write_text(f"window.ASIARCH_DATA = {payload};\n", encoding="utf-8")
    return out / "index.html"
