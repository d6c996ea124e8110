"""The oversight commands end to end on a real SQLite store: pause/resume/stop (also from another process),
bundles through export/import, the discovery-curve report, and replicate with real tiny training jobs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from asiarch.config import Config
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, find_campaign, get_or_create_campaign, set_campaign_state
from asiarch.store.schema import Evaluation, LedgerEntry
from tests.store.test_bundle import fill
from tests.test_cli import ROOT, TINY_STAGE, invoke

CANDIDATE = ROOT / "examples" / "gated_deltanet_mixer.py"
RIVALS = ["deltanet"]


def run(store: Path, *args: str):
    return invoke(*args, "--set", f"store={store}")


def flat(result) -> str:
    """The output with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


def one_line_error(result, expected: str) -> bool:
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code == 2 and len(lines) == 1 and expected in lines[0]


def state_of(store: Path, name: str) -> str:
    opened = open_store(store)
    try:
        with opened.session() as session:
            return find_campaign(session, name).state
    finally:
        opened.close()


@pytest.fixture
def campaign_store(tmp_path) -> Path:
    path = tmp_path / "store.db"
    opened = open_store(path)
    with opened.session() as session:
        get_or_create_campaign(session, "night")
        set_campaign_state(session, get_or_create_campaign(session, "done"), "finished")
    opened.close()
    return path


def test_pause_resume_stop_set_the_state_the_loop_polls(campaign_store):
    paused = run(campaign_store, "pause", "night")
    assert paused.exit_code == 0 and "running → paused" in flat(paused)
    assert state_of(campaign_store, "night") == "paused"
    again = run(campaign_store, "pause", "night")
    assert again.exit_code == 0 and "already paused" in flat(again)
    assert run(campaign_store, "resume", "night").exit_code == 0 and state_of(campaign_store, "night") == "running"
    stopped = run(campaign_store, "stop", "night")
    assert stopped.exit_code == 0 and "running → stopping" in flat(stopped)
    assert state_of(campaign_store, "night") == "stopping"
    assert run(campaign_store, "resume", "night").exit_code == 0 and state_of(campaign_store, "night") == "running"


def test_a_second_process_pauses_a_campaign_this_process_watches(campaign_store):
    watcher = open_store(campaign_store)
    try:
        with watcher.session() as session:
            assert find_campaign(session, "night").state == "running"
        command = [sys.executable, "-c", "from asiarch.cli import app; app()", "pause", "night", "--set",
                   f"store={campaign_store}"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        with watcher.session() as session:
            assert find_campaign(session, "night").state == "paused"
    finally:
        watcher.close()


def test_finished_is_the_only_state_with_an_end_time(tmp_path):
    opened = open_store(tmp_path / "states.db")
    with opened.session() as session:
        campaign = get_or_create_campaign(session, "c")
        assert set_campaign_state(session, campaign, "finished").ended_at is not None
        assert set_campaign_state(session, campaign, "running").ended_at is None
        with pytest.raises(ValueError, match="unknown campaign state 'halted'"):
            set_campaign_state(session, campaign, "halted")
    opened.close()


def test_state_commands_fail_with_one_line(campaign_store):
    assert one_line_error(run(campaign_store, "stop", "nope"), "no campaign 'nope' in the store; campaigns: night, done")
    assert one_line_error(run(campaign_store, "pause", "done"), "campaign 'done' is finished")
    assert state_of(campaign_store, "done") == "finished"


@pytest.fixture
def filled_store(tmp_path) -> Path:
    path = tmp_path / "filled.db"
    opened = open_store(path)
    with opened.session() as session:
        fill(session)
    opened.close()
    return path


def test_bundle_round_trip_through_export_and_import(filled_store, tmp_path):
    bundle = tmp_path / "bundle"
    exported = run(filled_store, "export", "original", "--bundle", str(bundle))
    assert exported.exit_code == 0 and "7 experiments" in flat(exported)
    other = tmp_path / "other.db"
    imported = run(other, "import", str(bundle))
    assert imported.exit_code == 0 and "imported 7 experiments" in flat(imported) and "'original'" in flat(imported)
    renamed = run(other, "import", str(bundle), "--campaign", "copy")
    assert renamed.exit_code == 0 and "'copy'" in flat(renamed)
    board = run(other, "leaderboard", "--campaign", "copy")
    assert board.exit_code == 0 and flat(board).index("cross") < flat(board).index("deltanet")


def test_export_and_import_misuse_is_one_line(filled_store, tmp_path):
    assert one_line_error(run(filled_store, "export", "original"), "exactly one of them")
    both = run(filled_store, "export", "original", str(tmp_path / "x.jsonl"), "--bundle", str(tmp_path / "b"))
    assert one_line_error(both, "exactly one of them")
    assert one_line_error(run(filled_store, "import", str(tmp_path / "x.jsonl")), "--campaign NAME is required")
    (tmp_path / "b").mkdir()
    assert one_line_error(run(filled_store, "import", str(tmp_path / "b"), "--format", "asi-arch"), "only asiarch")
    assert one_line_error(run(filled_store, "import", str(tmp_path / "b")), "lacks manifest.json")
    (tmp_path / "b" / "stray.txt").write_text("x")
    assert one_line_error(run(filled_store, "export", "original", "--bundle", str(tmp_path / "b")), "not empty")


def test_report_writes_the_curve_and_its_numbers(filled_store, tmp_path):
    out = tmp_path / "report"
    result = run(filled_store, "report", "original", "--out", str(out))
    assert result.exit_code == 0 and "discoveries 1" in flat(result)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["experiments"] == 7 and summary["discoveries"][0]["name"] == "cross"
    assert (out / "discovery_curve.png").stat().st_size > 10_000
    assert len((out / "discovery_curve.csv").read_text().splitlines()) == 8
    assert (out / "index.html").is_file() and (out / "app.js").is_file()
    data = json.loads((out / "data.js").read_text().removeprefix("window.ASIARCH_DATA = ").rstrip().rstrip(";"))
    assert len(data["/api/campaigns/original/experiments"]["experiments"]) == 7
    assert data["/api/campaigns/original"]["curve_png"] == "discovery_curve.png"
    assert one_line_error(run(filled_store, "report", "nope", "--out", str(out)), "no campaign 'nope'")


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny stage and one rival, with a reference cache shared by the replicate tests of this module."""
    root = tmp_path_factory.mktemp("replicate")
    config = {"cache_dir": str(root / "cache"), "store": str(root / "store.db"), "stages": {"screen": TINY_STAGE},
              "analyst": {"rivals": RIVALS}}  # fmt: skip
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, root / "store.db"


@pytest.mark.slow
def test_replicating_a_reference_holds(tiny_setup):
    config, _ = tiny_setup
    result = invoke("replicate", "zoo:deltanet", "--seeds", "2", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "fresh seeds 100000–100001" in flat(result) and "holds: on every task" in flat(result)


@pytest.mark.slow
def test_an_inflated_stored_result_does_not_hold_and_its_replication_is_stored(tiny_setup):
    config, store_path = tiny_setup
    snapshot = Config.model_validate(yaml.safe_load(config.read_text())).model_dump(mode="json")
    store = open_store(store_path)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "inflated", snapshot)
        experiment = add_experiment(session, campaign, "too good", CANDIDATE.read_text(), status="analysed")
        for seed, (accuracy, loss) in enumerate([(0.97, 1.50), (0.98, 1.52)]):
            session.add(Evaluation(experiment_id=experiment.id, stage="screen", task="mqar", seed=seed, lr=0.01,
                                   metric="accuracy", value=accuracy))  # fmt: skip
            session.add(Evaluation(experiment_id=experiment.id, stage="screen", task="lm", seed=seed, lr=0.003,
                                   metric="nats_per_token", value=loss))  # fmt: skip
        experiment_id, campaign_id = experiment.id, campaign.id
    result = invoke("replicate", str(experiment_id), "--seeds", "2", "--config", str(config))
    assert result.exit_code == 1, result.output
    assert "recorded with campaign 'inflated'" in flat(result)
    assert "does not hold: the new fitness" in flat(result) and "outside the old fitness's 95% interval" in flat(result)
    with store.session() as session:
        rows = session.scalars(select(Evaluation).where(Evaluation.stage == "replicate:screen")).all()
        assert sorted((row.task, row.seed) for row in rows) == [("lm", 100000), ("lm", 100001), ("mqar", 100000),
                                                                ("mqar", 100001)]  # fmt: skip
        assert all(row.experiment_id == experiment_id and row.value < 0.9 for row in rows if row.task == "mqar")
        [spent] = session.scalars(select(LedgerEntry).where(LedgerEntry.stage == "replicate:screen")).all()
        assert spent.campaign_id == campaign_id and spent.experiment_id == experiment_id and spent.cpu_s > 0
    store.close()


def test_replicate_misuse_is_one_line(tiny_setup, filled_store):
    config, _ = tiny_setup
    assert one_line_error(invoke("replicate", "best", "--config", str(config)), "an experiment id")
    assert one_line_error(run(filled_store, "replicate", "99"), "no experiment 99")
    assert one_line_error(run(filled_store, "replicate", "5"), "has no results at stage 'screen'")
    assert one_line_error(invoke("replicate", "zoo:nope", "--config", str(config)), "unknown reference 'nope'")
    assert invoke("replicate", "zoo:deltanet", "--seeds", "1", "--config", str(config)).exit_code == 2
