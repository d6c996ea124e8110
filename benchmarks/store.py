"""Store latency: inserting experiments and querying the candidate pool at 10k and 100k experiments.

Target: pool query ≤ 50 ms at 100k experiments on SQLite. Experiments form a random family tree
(each child of an earlier experiment) with fitness on 90% of them, like a long campaign.

Usage: python benchmarks/store.py [--sizes 10000,100000] [--url postgresql+psycopg://…/db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, candidate_pool, get_or_create_campaign, sample_parents
from asiarch.store.schema import Experiment, Lineage

SINGLE_INSERTS = 500
"""Experiments inserted one transaction each (as the loop does) to time a single insert."""
BATCH = 5000
POOL_QUERIES = 20


def fill(location: str, total: int, rng: random.Random) -> float:
    """Grow the store to ``total`` experiments; returns the mean seconds of a one-experiment transaction."""
    store = open_store(location)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "bench")
        have = session.query(Experiment).count()
    singles = []
    while have < total:
        count = min(BATCH, total - have)
        if len(singles) < SINGLE_INSERTS:
            for index in range(min(count, SINGLE_INSERTS - len(singles))):
                started = time.perf_counter()
                with store.session() as session:
                    parent = [rng.randint(1, have)] if have else []
                    add_experiment(session, campaign, f"e{have}", f"code {have}", parents=parent, **_fields(rng))
                singles.append(time.perf_counter() - started)
                have += 1
            continue
        with store.session() as session:
            rows = [
                Experiment(campaign_id=campaign.id, name=f"e{have + i}", code=f"code {have + i}",
                           code_hash=f"{have + i:064x}", **_fields(rng))
                for i in range(count)
            ]  # fmt: skip
            session.add_all(rows)
            session.flush()
            session.add_all(Lineage(child_id=row.id, parent_id=rng.randint(1, row.id - 1)) for row in rows)
        have += count
    store.close()
    return statistics.fmean(singles) if singles else float("nan")


def _fields(rng: random.Random) -> dict:
    analysed = rng.random() < 0.9
    return {"status": "analysed" if analysed else "failed", "fitness": rng.gauss(0, 1) if analysed else None}


def pool_latency(location: str) -> tuple[float, float]:
    """Median seconds of a top-50 pool query and of a rank-band parent sample."""
    store = open_store(location)
    rng = random.Random(0)
    pool_times, sample_times = [], []
    with store.session() as session:
        campaign = get_or_create_campaign(session, "bench")
        for _ in range(POOL_QUERIES):
            started = time.perf_counter()
            candidate_pool(session, campaign, 50)
            pool_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            sample_parents(session, campaign, "rank_bands", rng)
            sample_times.append(time.perf_counter() - started)
    store.close()
    return statistics.median(pool_times), statistics.median(sample_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated store sizes to measure at.")
    parser.add_argument("--url", default=None, help="A database URL (default: a temporary SQLite file).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        location = args.url or str(Path(scratch) / "bench.db")
        rng = random.Random(0)
        for size in sorted(int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            single = fill(location, size, rng)
            filled = time.perf_counter() - started
            pool, sample = pool_latency(location)
            print(
                f"{size:>7} experiments: filled in {filled:.1f} s; one-experiment insert transaction "
                f"{single * 1e3:.2f} ms; pool query (top 50) {pool * 1e3:.1f} ms; rank-band parent sample "
                f"{sample * 1e3:.1f} ms"
            )


if __name__ == "__main__":
    main()
