"""Storage faults: the store locked by another process, a full disk under the store, the work directory or the
baseline cache, and corrupted cached baselines. Each must end in one clear line (or be waited out, or repaired)
and never damage a row already stored."""

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from asiarch.bench.baselines import CACHE_FORMAT, BaselineCache
from asiarch.cli import app
from asiarch.config import Config
from asiarch.loop import open_campaign
from asiarch.store.db import StoreError, open_store
from asiarch.store.queries import add_experiment, get_or_create_campaign
from tests.campaigns import experiments_of, run_in_process, start_run, tiny_config, wait_for, write_config

CAMPAIGN = "tiny"
LOCK_S = 5.0
"""How long another process holds the store's write lock while a campaign runs (the busy timeout is 60 s)."""
SHORT_BUSY_TIMEOUT_MS = 500
PAST_TIMEOUT_LOCK_S = 3.0
"""Held well past the short busy timeout, so that both refused attempts fall inside it even on a busy machine."""
TMPFS_SIZE = "4m"
TERMINAL = {"rejected", "failed", "analysed", "promoted", "discovery"}
MUTABLE_TABLES = {"campaign", "orchestrator"}
"""Tables whose rows a resumed campaign legitimately updates (its state, the orchestrators' heartbeats); every
other row, once stored, must never change."""

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""
"""Another process holding the store's write lock for a while, as an open sqlite3 shell or a hung writer would."""


def small_config(tmp_path: Path, cache_dir: Path) -> Config:
    """The tiny preset with one reference and no promotion: the cheapest real campaign, one experiment a batch."""
    settings = tiny_config(tmp_path, max_experiments=1, batch_size=1).model_dump(mode="json")
    settings.update(references=["deltanet"], cache_dir=str(cache_dir))
    settings["analyst"].update(rivals=["deltanet"], max_promotions=0)
    return Config.model_validate(settings)


@pytest.fixture(scope="module")
def finished_campaign(tmp_path_factory) -> tuple[Path, Path]:
    """A real one-experiment campaign's store and its baseline cache (references measured once for the module);
    each test works on copies."""
    root = tmp_path_factory.mktemp("finished")
    config = small_config(root, root / "cache")
    store, summary = run_in_process(config, CAMPAIGN)
    store.close()
    assert summary.by_status and set(summary.by_status) <= TERMINAL, summary
    return Path(config.store), root / "cache"


@pytest.fixture
def campaign_copy(tmp_path, finished_campaign) -> tuple[Config, Path]:
    """A config pointing at private copies of the finished campaign's store and cache, and its written YAML."""
    store, cache = finished_campaign
    shutil.copytree(cache, tmp_path / "cache")
    config = small_config(tmp_path, tmp_path / "cache")
    shutil.copy(store, config.store)
    return config, write_config(config, tmp_path / "tiny.yaml")


def dump(path: Path) -> dict[str, set[tuple]]:
    """Every row of every table, read with plain sqlite3 rather than through the code under test."""
    db = sqlite3.connect(path)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: set(db.execute(f"SELECT * FROM {table}")) for table in tables}
    finally:
        db.close()


def assert_kept(before: dict[str, set[tuple]], path: Path) -> None:
    """Every row stored before is still there, unchanged, and the file is sound."""
    after = dump(path)
    for table, rows in before.items():
        if table not in MUTABLE_TABLES:
            assert rows <= after[table], f"rows of {table} changed or vanished"
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds the store's write lock for ``seconds``; returns once it holds it."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout.readline().strip() == "locked"
    return locker


def run_one_more(config_path: Path) -> Result:
    """`asiarch run` resuming the campaign for one more experiment, in this process (its start-up is the cost)."""
    arguments = ["run", "--campaign", CAMPAIGN, "--config", str(config_path), "--quiet", "--max-experiments", "2"]
    return CliRunner().invoke(app, arguments)


def one_error_line(result: Result) -> str:
    """The single `error:` line a failed command printed, with no traceback anywhere."""
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


# --- the store locked by another process ------------------------------------------------------------------------


@pytest.mark.reliability
@pytest.mark.slow
def test_a_campaign_remeasures_a_corrupt_baseline_and_waits_out_a_store_locked_for_seconds(campaign_copy):
    """Two faults in one real campaign (each run costs a campaign's start-up): its cached references are valid JSON
    of the wrong shape, and another process locks the store for seconds once it is under way."""
    config, path = campaign_copy
    store_path = Path(config.store)
    threads = config.execution.threads_per_worker
    cache = BaselineCache(config.cache_dir)
    measured = cache.load("screen", config.stage("screen"), threads)
    cached = cache.path("screen", config.stage("screen"), threads)
    cached.write_text(json.dumps({"format": CACHE_FORMAT, "references": ["not", "a", "mapping"]}))
    before = dump(store_path)
    process = start_run(path, CAMPAIGN, "--max-experiments", "2")
    wait_for(lambda: len(experiments_of(config, CAMPAIGN)) == 2)  # references done, the new slot reserved
    locker = hold_lock(store_path, LOCK_S)
    assert process.poll() is None, "the campaign ended before the store was locked: nothing was tested"
    status = subprocess.Popen(
        [sys.executable, "-m", "asiarch", "status", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(LOCK_S - 1)
    assert process.poll() is None and status.poll() is None, "gave up on a store locked for a few seconds"
    assert locker.wait(timeout=60) == 0
    status_output, _ = status.communicate(timeout=120)
    assert status.returncode == 0 and CAMPAIGN in status_output, status_output
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0 and "experiment budget reached" in output and "Traceback" not in output, output

    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(cached) in warnings[0] and "recomputed" in warnings[0], output
    remeasured = cache.load("screen", config.stage("screen"), threads)
    assert sorted(r.seed for _, r in remeasured["deltanet"]) == sorted(r.seed for _, r in measured["deltanet"])
    assert [p.name for p in cached.parent.iterdir()] == [cached.name], "overwritten in place, nothing left beside it"
    experiments = experiments_of(config, CAMPAIGN)
    assert len(experiments) == 2 and all(e.status in TERMINAL for e in experiments), [e.status for e in experiments]
    assert_kept(before, store_path)


@pytest.mark.reliability
def test_a_store_locked_past_the_busy_timeout_is_one_clear_error_and_writes_nothing(tmp_path):
    path = tmp_path / "store.db"
    store = open_store(path, busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)
    open_campaign(store, CAMPAIGN, Config())
    before = dump(path)
    locker = hold_lock(path, PAST_TIMEOUT_LOCK_S)
    try:
        with pytest.raises(StoreError) as raised:
            with store.session() as session:
                add_experiment(session, get_or_create_campaign(session, CAMPAIGN), "blocked", "code")
        message = str(raised.value)
        assert "\n" not in message
        assert f"store {path} is locked by another process for over 0.5 s" in message and "transaction" in message
        with pytest.raises(StoreError, match="locked by another process for over 0.5 s"):
            open_store(path, busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)
    finally:
        assert locker.wait(timeout=30) == 0
    assert dump(path) == before, "a write refused for the lock left something behind"
    with store.session() as session:  # the lock gone, the same store writes again
        add_experiment(session, get_or_create_campaign(session, CAMPAIGN), "after the lock", "code")
    store.close()


# --- a full disk -------------------------------------------------------------------------------------------------


class SmallDisk:
    """A tmpfs of ``TMPFS_SIZE`` mounted on a directory; ``fill`` takes every byte left, ``free`` gives them back."""

    def __init__(self, mount_point: Path) -> None:
        self.root = mount_point
        self.filler = mount_point / "filler"

    def fill(self) -> None:
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for chunk in (1 << 16, 1 << 12, 1):  # large writes first, then whatever bytes are left
                try:
                    while True:
                        os.write(descriptor, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(descriptor)
        assert shutil.disk_usage(self.root).free == 0

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def small_disk(tmp_path) -> Iterator[SmallDisk]:
    """A real full-able filesystem; skipped where mounting one is not permitted (no root, no CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` program to make a small tmpfs with")
    probe = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({probe.stderr.strip()}); needs root with CAP_SYS_ADMIN")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.mark.reliability
def test_a_full_disk_under_the_store_is_one_line_and_keeps_every_row(campaign_copy, small_disk):
    config, _ = campaign_copy
    store_path = small_disk.root / "campaign.db"
    shutil.copy(config.store, store_path)
    settings = config.model_dump(mode="json")
    config = Config.model_validate({**settings, "store": str(store_path)})
    path = write_config(config, small_disk.root.parent / "on-small-disk.yaml")
    before = dump(store_path)
    store = open_store(store_path)
    small_disk.fill()
    with pytest.raises(StoreError) as raised:  # the orchestrator's next write, with the store already open
        open_campaign(store, "another", config)
    assert str(raised.value).startswith(f"no space left on device at {store_path}; free space there or move")
    store.close()
    assert f"no space left on device at {store_path}" in one_error_line(run_one_more(path))
    small_disk.free()
    assert dump(store_path) == before, "a write refused for a full disk changed the store"
    assert_kept(before, store_path)


@pytest.mark.reliability
def test_a_full_work_dir_stops_the_campaign_with_one_line_and_keeps_every_row(campaign_copy, small_disk):
    config, _ = campaign_copy
    settings = config.model_dump(mode="json")
    settings["campaign"]["work_dir"] = str(small_disk.root / "runs")
    config = Config.model_validate(settings)
    path = write_config(config, small_disk.root.parent / "work-dir-on-small-disk.yaml")
    before = dump(Path(config.store))
    small_disk.fill()
    line = one_error_line(run_one_more(path))
    assert f"no space left on device at {small_disk.root / 'runs' / CAMPAIGN}" in line and "campaign.work_dir" in line
    assert not list((small_disk.root / "runs" / CAMPAIGN).glob("*.py")), "a truncated candidate file was left"
    assert_kept(before, Path(config.store))
    first, new = sorted(experiments_of(config, CAMPAIGN), key=lambda e: e.id)
    assert first.status in TERMINAL and new.status == "proposed", new.status  # in flight: the next run resumes it


@pytest.mark.reliability
def test_a_full_disk_under_the_cache_leaves_the_old_file_whole_and_no_temporary_one(finished_campaign, small_disk):
    _, warm = finished_campaign
    config = small_config(small_disk.root.parent, small_disk.root / "cache")
    threads = config.execution.threads_per_worker
    source = BaselineCache(warm)
    measured = source.load("screen", config.stage("screen"), threads)
    assert measured
    cache = BaselineCache(small_disk.root / "cache")
    path = cache.save("screen", config.stage("screen"), threads, measured)
    kept = path.read_bytes()
    small_disk.fill()
    with pytest.raises(OSError) as raised:
        cache.save("screen", config.stage("screen"), threads, measured)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_bytes() == kept
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary cache file was left behind"
    small_disk.free()
    assert cache.load("screen", config.stage("screen"), threads) == measured


# --- a corrupted cached baseline ---------------------------------------------------------------------------------

CORRUPTIONS = {
    "truncated": lambda text: text[: len(text) // 2],
    "garbage bytes": lambda text: "\udcff\udcfe\x00garbage",
    "a list, not an object": lambda text: json.dumps([json.loads(text)]),
    "references as a list": lambda text: json.dumps({**json.loads(text), "references": [1, 2]}),
    "rows missing fields": lambda text: json.dumps(
        {**json.loads(text), "references": {"deltanet": [["mqar", {"seed": 0}]]}}
    ),
}


@pytest.mark.reliability
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_cache_file_is_a_miss_with_one_warning_and_other_stages_still_load(
    finished_campaign, tmp_path, capsys, corruption
):
    _, warm = finished_campaign
    config = small_config(tmp_path, tmp_path / "cache")
    threads = config.execution.threads_per_worker
    measured = BaselineCache(warm).load("screen", config.stage("screen"), threads)
    cache = BaselineCache(tmp_path / "cache")
    screen = cache.save("screen", config.stage("screen"), threads, measured)
    cache.save("confirm", config.stage("confirm"), threads, measured)
    screen.write_bytes(CORRUPTIONS[corruption](screen.read_text()).encode("utf-8", "surrogateescape"))
    assert cache.load("screen", config.stage("screen"), threads) == {}
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1 and str(screen) in warnings[0] and "recomputed" in warnings[0], warnings
    assert cache.load("confirm", config.stage("confirm"), threads) == measured
