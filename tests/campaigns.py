"""Real campaigns on a tiny preset, shared by the loop and reliability tests: a whole campaign in about a minute."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import select

from asiarch.agents.researcher.offline.researcher import OfflineResearcher
from asiarch.cognition.retrieval import open_index
from asiarch.config import Config, StageConfig
from asiarch.execute.local import LocalExecutor
from asiarch.loop import run_campaign
from asiarch.store.db import open_store
from asiarch.store.queries import find_campaign
from asiarch.store.schema import Experiment
from tests.helpers import tiny_run

BUDGET = 6


def tiny_config(tmp_path: Path, **campaign: object) -> Config:
    """Two references, one tiny recall task: a whole campaign in about a minute on 2 cores."""
    stages = {
        "screen": StageConfig(seeds=1, reference_seeds=2, tasks={"mqar": tiny_run(steps=20)}),
        "confirm": StageConfig(seeds=2, reference_seeds=2, tasks={"mqar": tiny_run(steps=20)}),
    }
    settings = {
        "max_experiments": BUDGET,
        "cold_start": 2,
        "batch_size": 2,
        "work_dir": str(tmp_path / "runs"),
        "poll_s": 0.2,
        **campaign,
    }
    return Config(
        stages=stages,
        references=["deltanet", "gla"],
        store=str(tmp_path / "campaign.db"),
        cache_dir=tmp_path / "cache",
        campaign=settings,
        analyst={"rivals": ["deltanet", "gla"], "promote_min_fitness": -100.0, "max_promotions": 1},
        researcher={"windows": [4]},  # the tiny task is 32 tokens long
    )


def write_config(config: Config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def run_in_process(config: Config, name: str = "tiny"):
    store = open_store(config.store)
    researcher = OfflineResearcher.from_config(config)
    with LocalExecutor(config.execution) as executor:
        summary = run_campaign(config, store, name, researcher, executor, retrieve=open_index(config).search_many)
    return store, summary


def start_run(config_path: Path, name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "asiarch", "run", "--campaign", name, "--config", str(config_path), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the campaign"
        time.sleep(0.5)


def experiments_of(config: Config, name: str) -> list[Experiment]:
    store = open_store(config.store)
    try:
        with store.session() as session:
            campaign = find_campaign(session, name)
            if campaign is None:
                return []
            return list(session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id)))
    finally:
        store.close()
