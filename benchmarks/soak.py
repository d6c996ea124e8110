"""A campaign left running for an hour while faults are injected at random, then checked for lost or doubled data.

Faults, one every ``--every`` seconds on average (exponential gaps), drawn uniformly from:

- ``kill-orchestrator``: SIGKILL the ``asiarch run`` process, then start it again (a resume);
- ``kill-worker``: SIGKILL one sandboxed job worker of the orchestrator (a gate run, training or a reference);
- ``lock-store``: another process holds the SQLite write lock for 5-20 s;
- ``corrupt-cache``: overwrite a cached reference-baseline file with garbage;
- ``stop-resume``: ``asiarch stop`` from another process, then start the run again.

A fault is *survived* when, after it, the campaign finishes at least one more experiment within
``--progress-timeout`` seconds and no orchestrator exits with an error it was not killed with. *Data lost* counts
experiments that vanished, and terminal experiments whose status or evaluations changed, compared with a snapshot
taken before every fault; the final check adds slot indices drawn twice, code evaluated twice, duplicate analyses
or evaluation rows, and training missing from the ledger.

    python benchmarks/soak.py [--minutes 60] [--every 45] [--dir soak-run] [--seed 0]

Not part of the test run. Prints: faults injected / survived / data lost, by kind.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import select

from asiarch.config import Config
from asiarch.execute.sandbox import job_workers
from asiarch.store.db import open_store
from asiarch.store.queries import find_campaign
from asiarch.store.schema import Analysis, Evaluation, Experiment, LedgerEntry

CAMPAIGN = "soak"
TERMINAL = {"rejected", "failed", "analysed", "promoted", "discovery"}
TRAINED = {"analysed", "promoted", "discovery"}
LOCK_S = (5.0, 20.0)
"""How long the store is held locked: well inside SQLite's busy timeout (60 s), which the orchestrator waits out."""
STOP_WAIT_S = 120.0
"""How long a stopped orchestrator may take to finish its current step before it is killed."""
POLL_S = 1.0


def soak_config(directory: Path, seed: int) -> Config:
    """Small enough that experiments finish every few tens of seconds on 2 cores, so that an hour holds many
    faults in every phase of the loop; the full recall task and two references keep every code path in play."""
    run = {
        "task": "mqar",
        "params": {"vocab_size": 64, "seq_len": 32, "num_kv_pairs": 4, "test_kv_pairs": [2, 4], "test_examples": 32},
        "model": {"d_model": 32, "n_layers": 1, "num_heads": 2},
        "train": {"steps": 60, "batch_size": 8, "lrs": [3e-3], "eval_batch_size": 16},
    }
    return Config(
        stages={
            "screen": {"seeds": 1, "reference_seeds": 2, "tasks": {"mqar": run}},
            "confirm": {"seeds": 2, "reference_seeds": 2, "tasks": {"mqar": run}},
        },
        references=["deltanet", "gla"],
        store=str(directory / "soak.db"),
        cache_dir=directory / "cache",
        campaign={"max_experiments": 100_000, "cold_start": 2, "batch_size": 2, "seed": seed,
                  "work_dir": str(directory / "runs"), "poll_s": 0.2},
        analyst={"rivals": ["deltanet", "gla"], "max_promotions": 1},
        researcher={"windows": [4]},
    )  # fmt: skip


@dataclass
class Snapshot:
    """What must never change once stored: every experiment, and each terminal one's status and evaluations."""

    experiments: dict[int, str] = field(default_factory=dict)
    evaluations: dict[int, int] = field(default_factory=dict)


@dataclass
class Tally:
    injected: Counter = field(default_factory=Counter)
    survived: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)


class Orchestrator:
    """The ``asiarch run`` process under test, started again whenever it ends."""

    def __init__(self, config_path: Path, log: Path) -> None:
        self.config_path = config_path
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asiarch", "run", "--campaign", CAMPAIGN, "--config", str(self.config_path),
                 "--quiet", *extra],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def ensure_running(self, tally: Tally) -> None:
        """Restart an orchestrator that ended; an exit we did not cause is recorded with its last log line."""
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None and self.process.returncode not in (0, -signal.SIGKILL):
            tally.unexpected_exits.append(f"exit {self.process.returncode}: {_last_line(self.log)}")
        self.start()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def snapshot(config: Config) -> Snapshot:
    store = open_store(config.store)
    try:
        with store.session() as session:
            campaign = find_campaign(session, CAMPAIGN)
            if campaign is None:
                return Snapshot()
            rows = session.execute(select(Experiment.id, Experiment.status).where(
                Experiment.campaign_id == campaign.id)).all()  # fmt: skip
            counts = Counter(session.scalars(select(Evaluation.experiment_id).join(Experiment).where(
                Experiment.campaign_id == campaign.id)))  # fmt: skip
            return Snapshot({i: s for i, s in rows}, {i: counts[i] for i, s in rows if s in TERMINAL})
    finally:
        store.close()


def losses(before: Snapshot, after: Snapshot) -> list[str]:
    """Stored data that a fault destroyed or rewrote."""
    found = [f"experiment #{i} vanished" for i in before.experiments if i not in after.experiments]
    for i, status in before.experiments.items():
        if status in TERMINAL and after.experiments.get(i, status) != status:
            found.append(f"experiment #{i} went from {status} to {after.experiments[i]}")
    found += [
        f"experiment #{i} lost evaluations" for i, n in before.evaluations.items() if after.evaluations.get(i, 0) < n
    ]
    return found


def finished(shot: Snapshot) -> int:
    return sum(status in TERMINAL for status in shot.experiments.values())


def inject(kind: str, orchestrator: Orchestrator, config: Config, config_path: Path, rng: random.Random) -> str | None:
    """Cause one fault; returns what was done, for the log, or None when there was nothing to hit."""
    if kind == "kill-orchestrator":
        orchestrator.kill()
        orchestrator.start()
        return "orchestrator killed and restarted"
    if kind == "kill-worker":
        workers = job_workers(orchestrator.process.pid) if orchestrator.process else []
        if not workers:
            return None
        victim = rng.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return f"worker {victim} killed"
    if kind == "lock-store":
        seconds = rng.uniform(*LOCK_S)
        connection = sqlite3.connect(config.store, timeout=60)
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.rollback()
        connection.close()
        return f"store locked for {seconds:.1f} s"
    if kind == "corrupt-cache":
        files = sorted(Path(config.cache_dir).rglob("*.json"))
        if not files:
            return None
        victim = rng.choice(files)
        victim.write_bytes(rng.randbytes(64))
        return f"{victim.name} overwritten with garbage"
    if kind == "stop-resume":
        subprocess.run([sys.executable, "-m", "asiarch", "stop", CAMPAIGN, "--config", str(config_path)],
                       capture_output=True, check=True)  # fmt: skip
        try:
            orchestrator.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            orchestrator.kill()
            return "stop not honoured in time: killed, restarted"
        orchestrator.start()
        return "stopped and resumed"
    raise ValueError(kind)


FAULTS = ("kill-orchestrator", "kill-worker", "lock-store", "corrupt-cache", "stop-resume")


def wait_for_progress(orchestrator: Orchestrator, config: Config, done: int, timeout: float, tally: Tally) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        orchestrator.ensure_running(tally)
        if finished(snapshot(config)) > done:
            return True
        time.sleep(POLL_S)
    return False


def final_checks(config: Config) -> list[str]:
    """The invariants of a whole campaign: every slot drawn once, no code evaluated twice, no duplicate rows,
    every terminal experiment's training charged to the ledger."""
    problems = []
    store = open_store(config.store)
    try:
        with store.session() as session:
            campaign = find_campaign(session, CAMPAIGN)
            experiments = session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id)).all()
            indices = sorted(e.decision["index"] for e in experiments)
            if indices != list(range(len(experiments))):
                problems.append(f"slot indices are not 0..{len(experiments) - 1} once each")
            problems += [f"#{e.id} {e.name} still {e.status}" for e in experiments if e.status not in TERMINAL]
            kept = [e.code_hash for e in experiments if e.status != "rejected" and e.code]
            if len(set(kept)) != len(kept):
                problems.append(f"{len(kept) - len(set(kept))} codes evaluated twice")
            for e in experiments:
                stages = session.scalars(select(Analysis.stage).where(Analysis.experiment_id == e.id)).all()
                runs = session.execute(select(Evaluation.stage, Evaluation.task, Evaluation.seed).where(
                    Evaluation.experiment_id == e.id)).all()  # fmt: skip
                charged = set(session.scalars(select(LedgerEntry.stage).where(LedgerEntry.experiment_id == e.id)))
                if len(stages) != len(set(stages)) or len(runs) != len(set(runs)):
                    problems.append(f"#{e.id} {e.name}: duplicate analyses or evaluation rows")
                if not {stage for stage, _, _ in runs} <= charged:
                    problems.append(f"#{e.id} {e.name}: training missing from the ledger")
            return problems + [
                f"{len(experiments)} experiments, {sum(e.status in TRAINED for e in experiments)} trained"
            ]
    finally:
        store.close()


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="How long faults are injected.")
    parser.add_argument("--every", type=float, default=45.0, help="Mean seconds between faults.")
    parser.add_argument(
        "--progress-timeout",
        type=float,
        default=600.0,
        help="Seconds within which the campaign must finish another experiment after a fault.",
    )
    parser.add_argument("--dir", type=Path, default=Path("soak-run"), help="Store, cache, runs and log go here.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()  # fmt: skip

    args.dir.mkdir(parents=True, exist_ok=True)
    config = soak_config(args.dir.resolve(), args.seed)
    config_path = args.dir / "soak.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    log = args.dir / "orchestrator.log"
    rng = random.Random(args.seed)
    tally = Tally()
    orchestrator = Orchestrator(config_path, log)
    orchestrator.start()
    if not wait_for_progress(orchestrator, config, 0, args.progress_timeout * 2, tally):
        sys.exit(f"soak: no experiment finished before the first fault; see {log}")

    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end:
        time.sleep(min(rng.expovariate(1 / args.every), max(0.0, end - time.monotonic())))
        orchestrator.ensure_running(tally)
        kind = rng.choice(FAULTS)
        before = snapshot(config)
        what = inject(kind, orchestrator, config, config_path, rng)
        if what is None:
            continue
        tally.injected[kind] += 1
        exits = len(tally.unexpected_exits)
        progressed = wait_for_progress(orchestrator, config, finished(before), args.progress_timeout, tally)
        lost = losses(before, snapshot(config))
        tally.lost += lost
        if progressed and not lost and len(tally.unexpected_exits) == exits:
            tally.survived[kind] += 1
        print(f"[{time.strftime('%H:%M:%S')}] {kind}: {what}; progress {'yes' if progressed else 'NO'}"
              + (f"; LOST {lost}" if lost else ""), flush=True)  # fmt: skip

    orchestrator.kill()
    shot = snapshot(config)
    orchestrator.start("--max-experiments", str(len(shot.experiments)))  # finish what is in flight, start nothing new
    orchestrator.process.wait()
    tally.lost += losses(shot, snapshot(config))
    checks = final_checks(config)
    print()
    injected = sum(tally.injected.values())
    print(f"faults injected: {injected}, survived: {sum(tally.survived.values())}, data lost: {len(tally.lost)}")
    for kind in FAULTS:
        print(f"  {kind}: {tally.survived[kind]}/{tally.injected[kind]} survived")
    for line in tally.lost:
        print(f"  lost: {line}")
    for line in tally.unexpected_exits:
        print(f"  orchestrator ended unexpectedly: {line}")
    print(f"final run: exit {orchestrator.process.returncode}")
    print("final checks: " + "; ".join(checks))


if __name__ == "__main__":
    main()
