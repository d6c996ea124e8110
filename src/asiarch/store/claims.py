"""Several orchestrators on one campaign: who is alive, and who works on which experiment.

Each `asiarch run` registers an ``Orchestrator`` row and keeps its heartbeat fresh from a background
thread. Before it works on experiments in flight it claims them, under the campaign's row lock
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so
no experiment is worked on by two orchestrators at once. A claim passes to another orchestrator only
once its holder is gone: it ended, its heartbeat is older than the lease, or it ran on this machine
and its process no longer exists (checked at once, so a resume after ``kill -9`` need not wait out
the lease). Heartbeats use each machine's clock: a cluster's clocks must agree to well within the
lease (NTP does).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from asiarch.store.db import Store
from asiarch.store.schema import Campaign, Experiment, Orchestrator, utcnow


def lock_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign row, locked until the transaction ends: what orchestrators sharing it take turns on."""
    return session.execute(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).scalar_one()


def register(session: Session, campaign_id: int) -> int:
    """A new orchestrator (this process) working on the campaign; returns its id."""
    me = Orchestrator(campaign_id=campaign_id, host=socket.gethostname(), pid=os.getpid())
    session.add(me)
    session.flush()
    return me.id


def retire(session: Session, orchestrator_id: int) -> None:
    """This orchestrator has stopped; what it still held in flight may be claimed at once."""
    session.get(Orchestrator, orchestrator_id).ended_at = utcnow()


def join_campaign(store: Store, campaign_id: int, lease_s: float) -> int:
    """Register this process as one of the campaign's orchestrators; returns its id. The first to join sets a
    stopped or finished campaign running again (one joining others leaves their pause or stop in force)."""
    with store.session() as session:
        campaign = lock_campaign(session, campaign_id)
        if not live_orchestrators(session, campaign_id, lease_s):
            campaign.state, campaign.ended_at = "running", None
        return register(session, campaign_id)


def leave_campaign(store: Store, campaign_id: int, orchestrator_id: int, lease_s: float) -> None:
    """This orchestrator is done; the last one to leave marks the campaign finished."""
    with store.session() as session:
        campaign = lock_campaign(session, campaign_id)
        retire(session, orchestrator_id)
        session.flush()
        if not live_orchestrators(session, campaign_id, lease_s):
            campaign.state, campaign.ended_at = "finished", utcnow()


def live_orchestrators(session: Session, campaign_id: int, lease_s: float) -> list[Orchestrator]:
    """Orchestrators of the campaign that have not ended and whose heartbeat is within the lease."""
    rows = session.scalars(
        select(Orchestrator).where(Orchestrator.campaign_id == campaign_id, Orchestrator.ended_at.is_(None))
    )
    return [row for row in rows if _alive(row, lease_s)]


def claim(session: Session, campaign_id: int, orchestrator_id: int, candidates: Iterable[Experiment],
          lease_s: float) -> list[Experiment]:
    """Of ``candidates`` (experiments in flight, read under ``lock_campaign``), those this orchestrator may work
    on: its own, unclaimed ones, and those of orchestrators that are gone; each is claimed for it."""
    live = {row.id for row in live_orchestrators(session, campaign_id, lease_s)} - {orchestrator_id}
    mine = []
    for experiment in candidates:
        if experiment.claimed_by in live:
            continue
        experiment.claimed_by = orchestrator_id
        mine.append(experiment)
    return mine


def _alive(row: Orchestrator, lease_s: float) -> bool:
    heartbeat = row.heartbeat_at if row.heartbeat_at.tzinfo else row.heartbeat_at.replace(tzinfo=utcnow().tzinfo)
    if utcnow() - heartbeat > timedelta(seconds=lease_s):
        return False
    if row.host == socket.gethostname():
        return _process_exists(row.pid)
    return True


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class Heartbeat:
    """Keeps an orchestrator's heartbeat fresh every ``interval_s`` from a daemon thread, for as long as the
    ``with`` block runs, so others can tell it is alive even while it waits hours on a training job."""

    def __init__(self, store: Store, orchestrator_id: int, interval_s: float) -> None:
        self.store, self.orchestrator_id, self.interval_s = store, orchestrator_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="asiarch-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with self.store.session() as session:
                    session.get(Orchestrator, self.orchestrator_id).heartbeat_at = utcnow()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the main loop reports store failures
                continue
