"""Opening, versioning and sharing the store, on SQLite and PostgreSQL alike."""

import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from asiarch.store.db import MIGRATIONS, StoreError, open_store, schema_version, store_url
from asiarch.store.queries import add_experiment, count_experiments, get_or_create_campaign, parent_ids
from asiarch.store.schema import Campaign, Experiment, GateAttempt, SchemaVersion
from tests.store.writers import insert_experiments, insert_until_killed

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_new_store_is_stamped_and_reopens_with_its_data(store_location):
    store = open_store(store_location)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "first", {"seed": 1}, {"python": "3.11"})
        seed = add_experiment(session, campaign, "seed", "code-a")
        add_experiment(session, campaign, "child", "code-b", parents=[seed.id], references=[seed.id], operator="mutate")
    store.close()
    again = open_store(store_location)
    with again.session() as session:
        campaign = get_or_create_campaign(session, "first")
        assert campaign.config == {"seed": 1} and count_experiments(session, campaign) == 2
        assert session.query(SchemaVersion).one().version == schema_version()
        child_id = max(e.id for e in campaign.experiments)
        assert parent_ids(session, child_id) == [seed.id] == parent_ids(session, child_id, "reference")
    again.close()


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError):
        with store.session() as session:
            add_experiment(session, get_or_create_campaign(session, "c"), "half", "code")
            raise RuntimeError("crash mid-write")
    with store.session() as session:
        assert count_experiments(session, get_or_create_campaign(session, "c")) == 0


def test_an_older_store_is_migrated_forward_keeping_its_rows(store_location):
    open_store(store_location).close()

    def add_notes_table(connection):
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))

    with open_store(store_location).session() as session:
        add_experiment(session, get_or_create_campaign(session, "old"), "kept", "code")
    upgraded = open_store(store_location, migrations=[*MIGRATIONS, add_notes_table])
    with upgraded.session() as session:
        assert session.query(SchemaVersion).one().version == schema_version() + 1
        assert session.execute(text("SELECT count(*) FROM notes")).scalar_one() == 0
        assert count_experiments(session, get_or_create_campaign(session, "old")) == 1
    upgraded.close()


def test_a_version_1_store_opens_with_campaign_state_and_gate_attempts(tmp_path):
    """A real store written by the first release (its SQL dump) is upgraded in place, keeping its rows."""
    path = tmp_path / "v1.db"
    connection = sqlite3.connect(path)
    connection.executescript((FIXTURES / "schema_v1.sql").read_text())
    connection.close()
    store = open_store(path)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "old")
        assert campaign.state == "running" and count_experiments(session, campaign) == 1
        experiment = session.query(Experiment).one()
        assert experiment.decision == {} and experiment.fitness == 0.25
        session.add(GateAttempt(experiment_id=experiment.id, round=0, operator="seed", code="x", verdicts=[]))
        assert experiment.claimed_by is None
        assert session.query(SchemaVersion).one().version == schema_version() == 4
    store.close()


def test_a_newer_store_is_refused_with_one_line(store_location):
    store = open_store(store_location)
    with store.session() as session:
        session.query(SchemaVersion).update({"version": schema_version() + 5})
    store.close()
    with pytest.raises(StoreError, match="newer than this asiarch understands .* upgrade asiarch"):
        open_store(store_location)


def test_four_processes_insert_500_experiments_each_without_loss(store_location):
    open_store(store_location).close()
    with mp.get_context("spawn").Pool(4) as pool:
        done = pool.starmap(insert_experiments, [(store_location, writer, 500) for writer in range(4)])
    assert done == [500] * 4
    store = open_store(store_location)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "concurrent")
        assert count_experiments(session, campaign) == 2000
        names = {e.name for e in campaign.experiments}
        assert len(names) == 2000
    store.close()


def test_unusable_locations_are_one_line_errors(tmp_path):
    with pytest.raises(StoreError, match="cannot use store URL"):
        open_store("nosuchdialect://x")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(tmp_path / "dir.db")
    assert store_url("runs/x.db").startswith("sqlite:///") and store_url("postgresql+psycopg://h/db").startswith(
        "postgresql"
    )


def test_a_writer_killed_mid_transaction_leaves_only_whole_experiments(store_location):
    open_store(store_location).close()
    writer = mp.get_context("spawn").Process(target=insert_until_killed, args=(store_location,))
    writer.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _count(store_location) < 50:
        time.sleep(0.2)
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    store = open_store(store_location)
    with store.session() as session:
        campaign = get_or_create_campaign(session, "killed")
        experiments = campaign.experiments
        assert len(experiments) >= 50
        root = min(e.id for e in experiments)
        for experiment in experiments:
            assert len(experiment.evaluations) == 1
            assert parent_ids(session, experiment.id) == ([] if experiment.id == root else [root])
        if session.bind.dialect.name == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    store.close()


def _count(location: str) -> int:
    store = open_store(location)
    try:
        with store.session() as session:
            campaign = session.scalar(select(Campaign).where(Campaign.name == "killed"))
            return 0 if campaign is None else count_experiments(session, campaign)
    finally:
        store.close()
