"""The observatory in a real browser: headless Chromium over `asiarch serve` and over a static report."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, find_campaign
from tests.web.browser import MISSING, chromium, chromium_binary, open_view, screenshot_is_a_picture, served, wait_ready
from tests.web.conftest import CAMPAIGN, HOSTILE_MOTIVATION, HOSTILE_NAME

pytest.importorskip("selenium", reason="the browser tests need the test extra: pip install -e '.[test]'")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium_binary() is None, reason=MISSING)]
MIN_INKED = 0.03
MIN_COLOURS = 16


@pytest.fixture(scope="module")
def site(campaign_db):
    with served(campaign_db) as url:
        yield url


@pytest.fixture(scope="module")
def driver():
    with chromium() as browser:
        yield browser


def api(site: str, path: str) -> object:
    with urllib.request.urlopen(site.rstrip("/") + path, timeout=10) as response:
        return json.load(response)


def click_node(driver, experiment_id: int) -> None:  # noqa: ANN001
    node = driver.find_element(By.CSS_SELECTOR, f'svg#tree circle.node[data-id="{experiment_id}"]')
    ActionChains(driver).move_to_element(node).click().perform()


def assert_detail_with_diff(driver, name: str) -> None:  # noqa: ANN001
    wait_ready(driver, "detail")
    assert name in driver.find_element(By.ID, "detail").text
    diff = driver.find_element(By.ID, "diff")
    assert diff.find_elements(By.CSS_SELECTOR, ".add") and diff.find_elements(By.CSS_SELECTOR, ".del")


def test_click_a_tree_node_and_see_its_detail_and_diff(site, driver):
    rows = api(site, f"/api/campaigns/{CAMPAIGN}/experiments")["experiments"]
    open_view(driver, f"{site}#/c/{CAMPAIGN}/tree", "tree")
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg#tree circle.node[data-id]")) == len(rows)
    assert {e.get_attribute("data-ref") for e in driver.find_elements(By.CSS_SELECTOR, "svg#tree [data-ref]")} >= {
        "zoo:deltanet",
        "zoo:gla",
    }
    child = max((r for r in rows if r["parents"] and r["fitness"] is not None), key=lambda r: r["fitness"])
    click_node(driver, child["id"])
    assert_detail_with_diff(driver, child["name"])
    inked, colours = screenshot_is_a_picture(driver.get_screenshot_as_png())
    assert inked > MIN_INKED and colours > MIN_COLOURS


@pytest.mark.parametrize("view", ["overview", "tree", "leaderboard", "curve"])
def test_every_campaign_view_renders_a_picture(site, driver, view):
    open_view(driver, f"{site}#/c/{CAMPAIGN}/{view}", view)
    inked, colours = screenshot_is_a_picture(driver.get_screenshot_as_png())
    assert inked > MIN_INKED and colours > MIN_COLOURS, (view, inked, colours)


def test_compare_draws_both_groups(site, driver):
    open_view(driver, f"{site}#/compare?A={CAMPAIGN}&B=tiny-again", "compare")
    compare = driver.find_element(By.ID, "compare")
    assert compare.find_elements(By.CSS_SELECTOR, "svg path, svg polyline")
    inked, colours = screenshot_is_a_picture(driver.get_screenshot_as_png())
    assert inked > MIN_INKED and colours > MIN_COLOURS


def test_markup_in_a_motivation_or_name_renders_as_text(site, driver):
    rows = api(site, f"/api/campaigns/{CAMPAIGN}/experiments")["experiments"]
    hostile = next(r for r in rows if r["name"] == HOSTILE_NAME)
    open_view(driver, f"{site}#/e/{hostile['id']}", "detail")
    assert driver.find_element(By.ID, "motivation").text == HOSTILE_MOTIVATION
    detail = driver.find_element(By.ID, "detail")
    assert not detail.find_elements(By.CSS_SELECTOR, "script, img[src='x'], b")
    assert "<b>bold</b>-name" in detail.text and "</pre><script>" in driver.find_element(By.ID, "code").text
    open_view(driver, f"{site}#/c/{CAMPAIGN}/leaderboard", "leaderboard")
    row = driver.find_element(By.CSS_SELECTOR, f'#leaderboard tr[data-id="{hostile["id"]}"]')
    assert "<b>bold</b>-name" in row.text and not row.find_elements(By.CSS_SELECTOR, "b")
    assert driver.title != "pwned" and driver.execute_script("return document.title") != "pwned"


def test_the_page_refreshes_when_the_campaign_grows(site, driver, campaign_db):
    open_view(driver, f"{site}#/c/{CAMPAIGN}/leaderboard", "leaderboard")
    store = open_store(campaign_db)
    with store.session() as session:
        added = add_experiment(session, find_campaign(session, CAMPAIGN), "fresh-arrival", "class Mixer: ...",
                               status="analysed", fitness=9.5)  # fmt: skip
        added_id = added.id
    store.close()
    deadline = time.monotonic() + 20
    while not driver.find_elements(By.CSS_SELECTOR, f'#leaderboard tr[data-id="{added_id}"]'):
        assert time.monotonic() < deadline, "the leaderboard did not pick up the new experiment"
        time.sleep(0.2)


def test_the_static_report_opens_from_disk_and_works_the_same(campaign_db, driver, tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "asiarch", "report", CAMPAIGN, "--out", str(out), "--set", f"store={campaign_db}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<script>" not in (out / "data.js").read_text()
    rows = json.loads((out / "data.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))
    experiments = rows[f"/api/campaigns/{CAMPAIGN}/experiments"]["experiments"]
    page = (out / "index.html").as_uri()
    open_view(driver, f"{page}#/c/{CAMPAIGN}/tree", "tree")
    child = max((r for r in experiments if r["parents"] and r["fitness"] is not None), key=lambda r: r["fitness"])
    click_node(driver, child["id"])
    assert_detail_with_diff(driver, child["name"])
    open_view(driver, f"{page}#/c/{CAMPAIGN}/overview", "overview")
    assert driver.find_elements(By.CSS_SELECTOR, "#overview img[src='discovery_curve.png']")
