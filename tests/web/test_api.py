"""The observatory's JSON API over a real campaign: what it returns, that it escapes, and that it never writes."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from asiarch.store.db import StoreError, open_store, open_store_readonly
from asiarch.store.queries import analyses_of, find_campaign
from asiarch.web.app import create_app
from tests.web.conftest import CAMPAIGN, HOSTILE_MOTIVATION, HOSTILE_NAME


@pytest.fixture(scope="module")
def client(campaign_db):
    store = open_store_readonly(campaign_db)
    with TestClient(create_app(store)) as test_client:
        yield test_client
    store.close()


def get(client: TestClient, path: str) -> object:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_campaigns_and_overview_match_the_store(client):
    listed = {c["name"]: c for c in get(client, "/api/campaigns")}
    assert set(listed) == {CAMPAIGN, "tiny-again"} and listed[CAMPAIGN]["experiments"] == 9
    overview = get(client, f"/api/campaigns/{CAMPAIGN}")
    assert overview["by_status"] == {"analysed": 7, "promoted": 1, "failed": 1}
    assert overview["best"]["fitness"] == max(c["best_fitness"] for c in listed.values())
    budget = {b["label"]: b for b in overview["budget"]}
    assert budget["experiments"] == {"label": "experiments", "used": 9, "limit": 8}
    assert overview["compute"]["cpu_hours"] > 0 and overview["version"]


def test_experiments_carry_the_lineage_and_the_zoo_roots(client):
    data = get(client, f"/api/campaigns/{CAMPAIGN}/experiments")
    rows = data["experiments"]
    assert len(rows) == 9
    by_name = {r["name"]: r for r in rows}
    assert by_name["lin-a2aa1d"]["root"] == "zoo:deltanet" and by_name["lin-a2aa1d"]["parents"] == []
    ids = {r["id"] for r in rows}
    assert all(set(r["parents"]) <= ids for r in rows)
    assert sum(1 for r in rows if r["parents"]) == 7
    assert {ref["name"] for ref in data["references"]} == {"zoo:deltanet", "zoo:gla"}


def test_detail_has_diff_results_curves_analysis_and_gates(client, campaign_db):
    rows = get(client, f"/api/campaigns/{CAMPAIGN}/experiments")["experiments"]
    child = next(r for r in rows if r["parents"] and r["status"] == "analysed")
    detail = get(client, f"/api/experiments/{child['id']}")
    parent = next(r for r in rows if r["id"] == child["parents"][0])
    assert detail["diff"]["against"] == parent["name"] and detail["diff"]["added"] > 0
    assert '<div class="add">' in detail["diff"]["html"] and "highlight" in detail["code_html"]
    store = open_store(campaign_db)
    with store.session() as session:
        stored = analyses_of(session, child["id"])
    store.close()
    assert [a["text"] for a in detail["analyses"]] == [a.text for a in stored]
    result = detail["results"][0]
    assert result["candidate"]["mean"] == stored[0].deltas[result["label"]]["candidate"]["mean"]
    assert detail["curves"] and all(len(c["points"]) > 1 for c in detail["curves"])
    assert detail["gates"][0]["passed"] and detail["gates"][0]["verdicts"][0]["gate"] == "parse"
    root = get(client, f"/api/experiments/{rows[0]['id']}")
    assert root["diff"]["against"] == "zoo:deltanet" and root["root"] == "zoo:deltanet"


def test_strings_from_candidates_are_data_and_code_is_escaped(client):
    rows = get(client, f"/api/campaigns/{CAMPAIGN}/experiments")["experiments"]
    hostile = next(r for r in rows if r["name"] == HOSTILE_NAME)
    detail = get(client, f"/api/experiments/{hostile['id']}")
    assert detail["motivation"] == HOSTILE_MOTIVATION  # returned as data; the page inserts it as text
    for html in (detail["code_html"], detail["diff"]["html"]):
        assert "<script>" not in html and "&lt;script&gt;" in html
    assert detail["failure"] == {"gate": "parse", "reason": "<script>alert(1)</script> is not a layer"}


def test_compare_bands_over_the_campaigns_of_a_group(client):
    data = get(client, f"/api/compare?group=evolution:{CAMPAIGN},tiny-again&group=again:tiny-again")
    first, second = data["groups"]
    assert first["campaigns"] == [CAMPAIGN, "tiny-again"] and len(first["x"]) == 9
    assert first["low"][7] == first["high"][7] == second["mean"][7]  # the same campaign imported twice
    assert all(a is None or b is None or a <= b for a, b in zip(first["mean"], first["mean"][1:]))


@pytest.mark.parametrize(
    "path,status,words",
    [
        ("/api/experiments/99999", 404, "no experiment 99999"),
        ("/api/campaigns/nope", 404, "no campaign 'nope'"),
        ("/api/compare?group=broken", 400, "must look like LABEL:campaign1,campaign2"),
        ("/api/compare", 400, "at least one group"),
        ("/secrets.txt", 404, "no secrets.txt here"),
    ],
)
def test_errors_are_one_clear_line(client, path, status, words):
    response = client.get(path)
    assert response.status_code == status and words in response.json()["detail"]


def test_the_page_and_assets_are_served_locally_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "app.js" in page.text and "http" not in page.text.split("<body")[0]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css"):
        assert client.get(f"/{asset}").status_code == 200
    assert client.get("/data.js").status_code == 404  # only static reports carry data


def _contents(database) -> str:
    """The database with its write-ahead log: a write may sit in the log until a checkpoint."""
    files = sorted(database.parent.glob(database.name + "*"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files if not f.name.endswith("-shm"))).hexdigest()


def test_the_api_never_writes(campaign_db):
    before = _contents(campaign_db)
    store = open_store_readonly(campaign_db)
    with TestClient(create_app(store)) as test_client:
        assert test_client.post("/api/campaigns").status_code == 405
        for path in ("/api/campaigns", f"/api/campaigns/{CAMPAIGN}", f"/api/campaigns/{CAMPAIGN}/experiments"):
            json.dumps(get(test_client, path))
    with pytest.raises(Exception, match="readonly"), store.session() as session:
        find_campaign(session, CAMPAIGN).state = "stopping"
    store.close()
    assert _contents(campaign_db) == before


def test_the_version_changes_when_the_campaign_does(campaign_db, client):
    first = get(client, f"/api/campaigns/{CAMPAIGN}/version")["version"]
    assert get(client, f"/api/campaigns/{CAMPAIGN}/version")["version"] == first
    writer = open_store(campaign_db)
    with writer.session() as session:
        find_campaign(session, "tiny-again").state = "paused"  # another campaign: no change here
    assert get(client, f"/api/campaigns/{CAMPAIGN}/version")["version"] == first
    with writer.session() as session:
        find_campaign(session, CAMPAIGN).state = "paused"
    writer.close()
    assert get(client, f"/api/campaigns/{CAMPAIGN}/version")["version"] != first


def test_a_missing_or_foreign_store_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="no store at .*point --db at the file a campaign wrote"):
        open_store_readonly(tmp_path / "absent.db")
    (tmp_path / "other.db").write_bytes(b"")
    with pytest.raises(StoreError, match="holds no asiarch store"):
        open_store_readonly(tmp_path / "other.db")
