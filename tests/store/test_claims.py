"""Claims between orchestrators sharing a campaign, on SQLite and on a real PostgreSQL server."""

import subprocess
import sys
import time
from datetime import timedelta

from asiarch.store.claims import Heartbeat, claim, live_orchestrators, lock_campaign, register, retire
from asiarch.store.queries import add_experiment, get_or_create_campaign
from asiarch.store.schema import Experiment, Orchestrator, utcnow

LEASE_S = 60.0


def _campaign_with_experiments(store, count: int = 3) -> tuple[int, list[int]]:
    with store.session() as session:
        campaign = get_or_create_campaign(session, "shared")
        ids = [add_experiment(session, campaign, f"e{i}", f"code {i}").id for i in range(count)]
        return campaign.id, ids


def _claim(store, campaign_id: int, orchestrator_id: int) -> list[int]:
    with store.session() as session:
        lock_campaign(session, campaign_id)
        rows = session.query(Experiment).filter_by(campaign_id=campaign_id).order_by(Experiment.id).all()
        return [row.id for row in claim(session, campaign_id, orchestrator_id, rows, LEASE_S)]


def _register(store, campaign_id: int) -> int:
    with store.session() as session:
        return register(session, campaign_id)


def test_a_live_orchestrators_claims_are_its_own_until_it_retires(store):
    campaign_id, ids = _campaign_with_experiments(store)
    first, second = _register(store, campaign_id), _register(store, campaign_id)
    assert _claim(store, campaign_id, first) == ids
    assert _claim(store, campaign_id, second) == []
    assert _claim(store, campaign_id, first) == ids  # its own claims stay its own
    with store.session() as session:
        retire(session, first)
    assert _claim(store, campaign_id, second) == ids
    with store.session() as session:
        assert [row.id for row in live_orchestrators(session, campaign_id, LEASE_S)] == [second]


def test_claims_of_a_dead_process_on_this_machine_are_taken_over_at_once(store):
    campaign_id, ids = _campaign_with_experiments(store)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = _register(store, campaign_id), _register(store, campaign_id)
    with store.session() as session:
        session.get(Orchestrator, dead).pid = int(gone.stdout)
    assert _claim(store, campaign_id, dead) == ids
    assert _claim(store, campaign_id, alive) == ids


def test_claims_of_an_orchestrator_elsewhere_pass_on_when_its_heartbeat_is_older_than_the_lease(store):
    campaign_id, ids = _campaign_with_experiments(store)
    elsewhere, here = _register(store, campaign_id), _register(store, campaign_id)
    with store.session() as session:
        session.get(Orchestrator, elsewhere).host = "another-machine"
    assert _claim(store, campaign_id, elsewhere) == ids
    assert _claim(store, campaign_id, here) == []
    with store.session() as session:
        session.get(Orchestrator, elsewhere).heartbeat_at = utcnow() - timedelta(seconds=LEASE_S + 1)
    assert _claim(store, campaign_id, here) == ids


def test_the_heartbeat_thread_keeps_an_orchestrator_alive(store):
    campaign_id, _ = _campaign_with_experiments(store, 0)
    me = _register(store, campaign_id)
    stale = utcnow() - timedelta(seconds=LEASE_S + 1)
    with store.session() as session:
        session.get(Orchestrator, me).heartbeat_at = stale
    with Heartbeat(store, me, interval_s=0.05):
        time.sleep(0.5)
    with store.session() as session:
        assert [row.id for row in live_orchestrators(session, campaign_id, LEASE_S)] == [me]
