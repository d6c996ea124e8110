"""Observatory page load with a large campaign: target ≤ 1 s with 5,000 experiments in the store.

Builds a store holding one campaign of N experiments (a random family tree grown from the zoo, statuses and
fitness like a long campaign, one ledger row per experiment), serves it with `asiarch serve`, and loads the
overview, the lineage tree and the leaderboard in headless Chromium. Page load = from navigation to the page
saying it finished rendering (``body[data-ready=1]``), with a fresh browser cache each time; the API
response times are printed too. Needs Debian's chromium and chromium-driver.

With ``--screenshots DIR --db STORE --campaign NAME`` it instead photographs every view of that campaign
(the README's pictures).

Usage: python benchmarks/observatory.py [--experiments 5000] [--repeats 3]
       python benchmarks/observatory.py --screenshots docs/observatory --db bench-campaign.db --campaign bench
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the browser helpers live with the tests

from asiarch.store.db import open_store  # noqa: E402
from asiarch.store.queries import get_or_create_campaign  # noqa: E402
from asiarch.store.schema import Experiment, LedgerEntry, Lineage  # noqa: E402
from tests.web.browser import chromium, open_view, served, wait_ready  # noqa: E402

ZOO_ROOTS = ("zoo:deltanet", "zoo:gated_deltanet", "zoo:gla", "zoo:mamba2", "zoo:retnet", "zoo:softmax")
STATUS_SHARES = {"analysed": 0.62, "failed": 0.18, "rejected": 0.12, "promoted": 0.06, "discovery": 0.02}
COLD_START = 20
VIEWS = ("overview", "tree", "leaderboard")
SCREENSHOT_VIEWS = ("overview", "tree", "leaderboard", "curve")
SCREEN_SIZE = (1400, 900)


def build(path: Path, total: int, seed: int = 0) -> str:
    """A store with one campaign of ``total`` experiments; returns the campaign's name."""
    rng = random.Random(seed)
    store = open_store(path)
    name = f"synthetic-{total}"
    started = datetime.now(timezone.utc) - timedelta(hours=total / 30)
    statuses, weights = zip(*STATUS_SHARES.items())
    with store.session() as session:
        campaign = get_or_create_campaign(session, name)
        rows = []
        for index in range(total):
            status = rng.choices(statuses, weights)[0]
            scored = status in ("analysed", "promoted", "discovery")
            root = rng.choice(ZOO_ROOTS)
            rows.append(
                Experiment(
                    campaign_id=campaign.id, name=f"design-{index:05d}", code=f"class Mixer:  # {index}\n",
                    code_hash=f"{index:064x}", status=status, fitness=rng.gauss(0, 1.5) if scored else None,
                    stage_reached="confirm" if status in ("promoted", "discovery") else "screen",
                    operator=rng.choice(("mutate:add:conv:short", "mutate:swap:rule:delta", "crossover:graft")),
                    parameters=rng.randint(30_000, 40_000), decision={"parent": root},
                    created_at=started + timedelta(minutes=2 * index),
                )
            )  # fmt: skip
        session.add_all(rows)
        session.flush()
        for row in rows[COLD_START:]:  # later experiments grow from earlier ones, the good ones more often
            parent = rows[min(int(rng.paretovariate(1.2)) * rng.randint(1, 40), row.id - rows[0].id - 1)]
            session.add(Lineage(child_id=row.id, parent_id=parent.id, role="parent", position=0))
        session.add_all(
            LedgerEntry(campaign_id=campaign.id, experiment_id=row.id, stage="screen", cpu_s=240.0, wall_s=130.0)
            for row in rows
        )
    store.close()
    return name


def api_seconds(url: str, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=60) as response:
            json.load(response)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def page_seconds(url: str, view: str, repeats: int) -> list[float]:
    """Navigation to ready, each in a fresh browser (nothing cached)."""
    times = []
    for _ in range(repeats):
        with chromium(*SCREEN_SIZE) as driver:
            driver.get("about:blank")
            started = time.perf_counter()
            driver.get(url)
            wait_ready(driver, view)
            times.append(time.perf_counter() - started)
    return times


def benchmark(total: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "observatory.db"
        began = time.perf_counter()
        name = build(database, total)
        print(f"store with {total} experiments built in {time.perf_counter() - began:.1f} s")
        with served(database) as url:
            for path in (f"/api/campaigns/{name}", f"/api/campaigns/{name}/experiments", f"/api/campaigns/{name}/version"):
                print(f"GET {path:<45} {1000 * api_seconds(url, path, repeats):7.1f} ms (median of {repeats})")
            for view in VIEWS:
                times = page_seconds(f"{url}#/c/{name}/{view}", view, repeats)
                print(f"page load {view:<12} median {statistics.median(times):.2f} s, worst {max(times):.2f} s "
                      f"(target ≤ 1 s; {repeats} fresh browsers)")  # fmt: skip


def screenshots(database: Path, campaign: str, out: Path) -> None:
    """One PNG per view of ``campaign``, plus the detail of its best experiment."""
    out.mkdir(parents=True, exist_ok=True)
    with served(database) as url, chromium(*SCREEN_SIZE) as driver:
        experiments = json.load(urllib.request.urlopen(f"{url}api/campaigns/{campaign}/experiments"))["experiments"]
        for view in SCREENSHOT_VIEWS:
            open_view(driver, f"{url}#/c/{campaign}/{view}", view)
            driver.save_screenshot(str(out / f"{view}.png"))
        scored = [e for e in experiments if e["fitness"] is not None and e["parents"]]
        best = max(scored or experiments, key=lambda e: e["fitness"] if e["fitness"] is not None else float("-inf"))
        open_view(driver, f"{url}#/e/{best['id']}", "detail")
        driver.save_screenshot(str(out / "detail.png"))
        driver.execute_script("document.getElementById('diff').scrollIntoView()")
        time.sleep(0.3)
        driver.save_screenshot(str(out / "diff.png"))
    print(f"wrote {len(SCREENSHOT_VIEWS) + 2} screenshots of {campaign!r} to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, default=None, help="Directory for screenshots instead.")
    parser.add_argument("--db", type=Path, default=None, help="Store to photograph (with --screenshots).")
    parser.add_argument("--campaign", default=None, help="Campaign to photograph (with --screenshots).")
    args = parser.parse_args()
    if args.screenshots is not None:
        if args.db is None or args.campaign is None:
            parser.error("--screenshots needs --db and --campaign")
        screenshots(args.db, args.campaign, args.screenshots)
    else:
        benchmark(args.experiments, args.repeats)


if __name__ == "__main__":
    main()
