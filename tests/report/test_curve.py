"""The discovery curve's numbers and plot, from a store filled through the store API."""

import csv
import json

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.image import imread

from asiarch.report.curve import CSV_COLUMNS, discovery_curve, write_csv, write_summary
from asiarch.report.render import DISCOVERY_COLOUR, PROMOTED_COLOUR, render_curve
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, find_campaign, get_or_create_campaign
from asiarch.store.schema import Analysis, LedgerEntry

EXPERIMENTS = (("a", "analysed", 0.1), ("b", "rejected", None), ("c", "promoted", 0.5), ("d", "failed", None),
               ("e", "discovery", 1.2), ("f", "analysed", 0.3))  # fmt: skip
LEDGER = ((None, 3600.0, 0.0), ("a", 1800.0, 0.0), ("d", 360.0, 0.0), ("c", 1800.0, 0.0), ("e", 3600.0, 0.0),
          ("e", 7200.0, 1800.0), ("f", 1800.0, 0.0), (None, 360.0, 0.0))  # fmt: skip
"""(experiment, CPU s, GPU s) in the order written: reference runs first, d's entry before c's (in flight
together), a trailing entry for no experiment."""
EXPECTED = [
    # experiments, name, cpu_hours, gpu_hours, promoted, discoveries, best_fitness
    (1, "a", 1.5, 0.0, 0, 0, 0.1),
    (2, "b", 1.5, 0.0, 0, 0, 0.1),
    (3, "c", 2.1, 0.0, 1, 0, 0.5),
    (4, "d", 2.1, 0.0, 1, 0, 0.5),
    (5, "e", 5.1, 0.5, 2, 1, 1.2),
    (6, "f", 5.7, 0.5, 2, 1, 1.2),
]


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "curve.db")
    with opened.session() as session:
        campaign = get_or_create_campaign(session, "curve")
        ids = {}
        for name, status, fitness in EXPERIMENTS:
            ids[name] = add_experiment(session, campaign, name, f"# {name}\n", status=status, fitness=fitness).id
        session.add(Analysis(experiment_id=ids["e"], stage="screen", fitness=0.9, significance={"aggregate": {}}))
        session.add(Analysis(experiment_id=ids["e"], stage="confirm", fitness=1.2,
                             significance={"p_value": 0.004, "p_corrected": 0.012, "is_discovery": True}))  # fmt: skip
        for name, cpu_s, gpu_s in LEDGER:
            session.add(LedgerEntry(campaign_id=campaign.id, experiment_id=ids.get(name), stage="screen", cpu_s=cpu_s,
                                    gpu_s=gpu_s, wall_s=cpu_s / 2))  # fmt: skip
            session.flush()
    yield opened
    opened.close()


def curve_of(store, name="curve"):
    with store.session() as session:
        return discovery_curve(session, find_campaign(session, name))


def test_csv_holds_the_inserted_numbers(store, tmp_path):
    path = tmp_path / "curve.csv"
    write_csv(curve_of(store), path)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    got = [(int(r["experiments"]), r["name"], float(r["cpu_hours"]), float(r["gpu_hours"]), int(r["promoted"]),
            int(r["discoveries"]), float(r["best_fitness"])) for r in rows]  # fmt: skip
    assert got == pytest.approx(EXPECTED) and [g[1] for g in got] == [e[1] for e in EXPECTED]
    assert [float(r["compute_hours"]) for r in rows] == pytest.approx([e[2] + e[3] for e in EXPECTED])


def test_summary_counts_discoveries_with_their_p_values(store, tmp_path):
    path = tmp_path / "summary.json"
    write_summary(curve_of(store), path)
    summary = json.loads(path.read_text())
    assert summary["experiments"] == 6 and summary["promoted"] == 2 and summary["discovery_count"] == 1
    assert summary["by_status"] == {"analysed": 2, "discovery": 1, "failed": 1, "promoted": 1, "rejected": 1}
    [found] = summary["discoveries"]
    assert (found["name"], found["stage"], found["p_value"], found["p_corrected"]) == ("e", "confirm", 0.004, 0.012)
    rises = [(r["experiments"], r["best_fitness"]) for r in summary["best_fitness_over_time"]]
    assert rises == [(1, 0.1), (3, 0.5), (5, 1.2)]
    hours = summary["compute_hours"]
    assert (hours["cpu"], hours["gpu"], hours["total"], hours["wall"]) == pytest.approx((5.7, 0.5, 6.2, 2.85))
    rate = summary["discovery_rate"]
    assert rate["per_100_experiments"] == pytest.approx(100 / 6) and rate["per_compute_hour"] == pytest.approx(1 / 6.2)


def _share_of_colour(image: np.ndarray, colour: str) -> float:
    target = np.array(colors.to_rgb(colour))
    return float((np.abs(image[..., :3] - target).max(axis=-1) < 0.05).mean())


def test_png_shows_both_curves(store, tmp_path):
    path = tmp_path / "curve.png"
    render_curve(curve_of(store), path)
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05
    assert _share_of_colour(image, DISCOVERY_COLOUR) > 1e-4 and _share_of_colour(image, PROMOTED_COLOUR) > 1e-4


def test_an_empty_campaign_has_an_empty_curve(tmp_path):
    opened = open_store(tmp_path / "empty.db")
    with opened.session() as session:
        get_or_create_campaign(session, "empty")
    curve = curve_of(opened, "empty")
    render_curve(curve, tmp_path / "empty.png")
    summary = curve.summary()
    assert summary["experiments"] == 0 and summary["best_fitness"] is None and summary["discovery_rate"] == {
        "per_100_experiments": None, "per_compute_hour": None}  # fmt: skip
    assert _share_of_colour(imread(tmp_path / "empty.png"), DISCOVERY_COLOUR) == 0
    opened.close()
