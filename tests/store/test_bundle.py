"""Bundles: a campaign exported as a directory and imported into an empty store is the same campaign."""

import hashlib
import json
from datetime import datetime, timezone
from importlib import resources

import pytest
from sqlalchemy import func, select

from asiarch.config import Config
from asiarch.store.bundle import TABLES, BundleError, export_bundle, import_bundle
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, find_campaign, get_or_create_campaign, leaderboard, parent_ids
from asiarch.store.schema import (
    Analysis,
    CognitionEntry,
    Evaluation,
    Experiment,
    GateAttempt,
    Insight,
    LedgerEntry,
    Lineage,
    LLMCall,
    Orchestrator,
)

COUNTED = (Experiment, Lineage, Evaluation, Analysis, Insight, GateAttempt, LLMCall, LedgerEntry, CognitionEntry)
TIME_KEYS = ("created_at", "updated_at")


def _evaluate(session, experiment, base: float) -> None:
    for seed in range(2):
        session.add(Evaluation(experiment_id=experiment.id, stage="screen", task="mqar", seed=seed, lr=0.01,
                               metric="accuracy", value=base + 0.01 * seed, splits={"kv4": base},
                               curve=[[10, 3.0], [20, 1.5 - base]], wall_s=30.0, cpu_s=29.0))  # fmt: skip
        session.add(Evaluation(experiment_id=experiment.id, stage="screen", task="lm", seed=seed, lr=0.003,
                               metric="bpb", value=2.5 - base, wall_s=20.0, cpu_s=19.5))  # fmt: skip


def fill(session):
    """A small campaign with every kind of row: seeds, a mutation, a crossover, a failure with repairs, a rejected
    repeat, a fitness tie, evaluations, analyses, an insight, LLM calls, ledger entries and a cognition entry."""
    config = Config().model_dump(mode="json")
    campaign = get_or_create_campaign(session, "original", config, {"packages": {"torch": "2.13.0"}, "gpu": None})
    seed = add_experiment(session, campaign, "deltanet", "class Mixer: 'delta'\n", status="analysed", fitness=0.0,
                          operator="seed", stage_reached="screen", parameters=4096, spec={"rule": "delta"})  # fmt: skip
    rival = add_experiment(session, campaign, "gla", "class Mixer: 'gla'\n", status="analysed", fitness=-0.2,
                           operator="seed", stage_reached="screen")  # fmt: skip
    window = add_experiment(session, campaign, "delta window/v2", "class Mixer: 'window'\n", parents=[seed.id],
                            references=[rival.id], status="promoted", fitness=0.8, stage_reached="confirm",
                            operator="mutate:add:local:sliding_window", motivation="local detail")  # fmt: skip
    cross = add_experiment(session, campaign, "cross", "class Mixer: 'cross'\n", parents=[window.id, seed.id],
                           status="discovery", fitness=1.5, operator="crossover:rule", stage_reached="confirm")  # fmt: skip
    broken = add_experiment(session, campaign, "leaky", "class Mixer: 'leak'\n", parents=[seed.id], status="failed",
                            failure_gate="causality", failure_reason="output at t moved with input t+1")  # fmt: skip
    add_experiment(session, campaign, "repeat", "class Mixer: 'window'\n", parents=[window.id], status="rejected")
    tie = add_experiment(session, campaign, "tie", "class Mixer: 'tie'\n", parents=[seed.id], status="analysed",
                         fitness=0.8, stage_reached="screen")  # fmt: skip
    for experiment, base in ((seed, 0.5), (rival, 0.4), (window, 0.7), (cross, 0.8), (tie, 0.7)):
        _evaluate(session, experiment, base)
        session.add(Analysis(experiment_id=experiment.id, stage="screen", fitness=experiment.fitness,
                             deltas={"mqar": base - 0.5}, fields={"weaknesses": ["lm"]}, text=f"{experiment.name}"))  # fmt: skip
    holder = Orchestrator(campaign_id=campaign.id, host="node-1", pid=4242)  # store bookkeeping: not exported
    session.add(holder)
    session.flush()
    window.claimed_by = holder.id
    session.add(Analysis(experiment_id=cross.id, stage="confirm", fitness=1.5,
                         significance={"p_value": 0.004, "p_corrected": 0.012}))  # fmt: skip
    for round_ in range(2):
        session.add(GateAttempt(experiment_id=broken.id, round=round_, operator="repair:causality",
                                code=f"# version {round_}\n", verdicts=[{"gate": "causality", "passed": False}]))  # fmt: skip
    session.add(Insight(campaign_id=campaign.id, text="local windows help recall", tags=["local"],
                        source_ids=[window.id, cross.id], support=2))  # fmt: skip
    session.add(LedgerEntry(campaign_id=campaign.id, experiment_id=None, stage="references", cpu_s=600.0))
    for experiment in (seed, rival, window, cross, tie):
        session.add(LedgerEntry(campaign_id=campaign.id, experiment_id=experiment.id, stage="screen", cpu_s=100.0,
                                wall_s=55.0))  # fmt: skip
    session.add(LLMCall(campaign_id=campaign.id, experiment_id=window.id, agent="planner", model="m", prompt="p",
                        response="r", prompt_tokens=10, completion_tokens=5, cost_usd=0.001, cache_key="k0"))  # fmt: skip
    session.add(CognitionEntry(source="yang2024gated", title="Gated delta networks", fields={"motifs": ["delta"]}))
    session.flush()
    return campaign


def counts(session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def board(session, name: str) -> list[tuple]:
    return [(e.name, e.fitness, e.status) for e in leaderboard(session, find_campaign(session, name), top=100)]


def lineage(session, name: str) -> dict[str, tuple]:
    campaign = find_campaign(session, name)
    experiments = session.scalars(select(Experiment).where(Experiment.campaign_id == campaign.id)).all()
    names = {e.id: e.name for e in experiments}
    return {e.name: tuple(tuple(names[i] for i in parent_ids(session, e.id, role)) for role in ("parent", "reference"))
            for e in experiments}  # fmt: skip


def table_files(directory) -> dict[str, list[dict]]:
    """Each table file's records with times compared as UTC instants (backends differ in how they print them)."""
    loaded = {}
    for table in TABLES:
        records = [json.loads(line) for line in (directory / table.file).read_text().splitlines()]
        for record in records:
            for key in TIME_KEYS:
                if record.get(key):
                    moment = datetime.fromisoformat(record[key])
                    record[key] = (moment.astimezone(timezone.utc) if moment.tzinfo else moment).replace(tzinfo=None)
        loaded[table.file] = records
    return loaded


def test_exported_bundle_imports_into_an_empty_store_as_the_same_campaign(store, tmp_path):
    with store.session() as session:
        campaign = fill(session)
        written = export_bundle(session, campaign, tmp_path / "bundle")
        before, original_board, original_lineage = counts(session), board(session, "original"), lineage(session, "original")
    assert written["experiments.jsonl"] == 7 and written["evaluations.jsonl"] == 20 and written["ledger.jsonl"] == 6
    target = open_store(tmp_path / "empty.db")
    try:
        with target.session() as session:
            imported = import_bundle(session, tmp_path / "bundle")
            assert imported.name == "original" and imported.config == campaign.config
            assert imported.provenance["packages"] == {"torch": "2.13.0"}
        with target.session() as session:
            assert counts(session) == before
            assert board(session, "original") == original_board
            assert [name for name, _, _ in original_board] == ["cross", "delta window/v2", "tie", "deltanet", "gla"]
            assert lineage(session, "original") == original_lineage
            assert session.scalar(select(func.count()).select_from(Orchestrator)) == 0
            assert not session.scalars(select(Experiment.claimed_by).where(Experiment.claimed_by.is_not(None))).all()
            assert original_lineage["cross"] == (("delta window/v2", "deltanet"), ())
            assert original_lineage["delta window/v2"] == (("deltanet",), ("gla",))
            export_bundle(session, find_campaign(session, "original"), tmp_path / "again")
    finally:
        target.close()
    assert table_files(tmp_path / "again") == table_files(tmp_path / "bundle")


def test_bundle_describes_itself(store, tmp_path):
    directory = tmp_path / "bundle"
    with store.session() as session:
        export_bundle(session, fill(session), directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format"] == "asiarch-bundle" and manifest["format_version"] == 1
    assert manifest["campaign"] == "original" and manifest["asiarch_version"]
    weights = manifest["fitness_definition"]["stage_task_weights"]
    assert weights["screen"] == {"mqar": 1.0, "lm": 1.0} and set(weights["confirm"]) >= {"mqar", "selective_copy"}
    assert manifest["fitness_definition"]["references"] == Config().references
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest
    datasets = json.loads((directory / "datasets.json").read_text())
    shipped = resources.files("asiarch.bench").joinpath("data", "pydoc.txt.xz").read_bytes()
    assert datasets["corpus"]["sha256"] == hashlib.sha256(shipped).hexdigest()
    screen = datasets["stage_tasks"]["screen"]
    assert screen["mqar"]["data"] == "synthetic generator" and screen["mqar"]["params"]["num_kv_pairs"] == 8
    assert screen["lm"]["data"] == "corpus pydoc.txt.xz" and screen["lm"]["params"]["seq_len"] == 128
    candidates = sorted(path.name for path in (directory / "candidates").iterdir())
    assert "3-delta_window_v2.py" in candidates and len(candidates) == 7
    assert (directory / "candidates" / "3-delta_window_v2.py").read_text() == "class Mixer: 'window'\n"
    readme = (directory / "README.md").read_text()
    assert all(table.file in readme for table in TABLES) and "asiarch import" in readme


def test_bundle_problems_are_one_line_errors(store, tmp_path):
    directory = tmp_path / "bundle"
    with store.session() as session:
        campaign = fill(session)
        export_bundle(session, campaign, directory)
        with pytest.raises(BundleError, match="is not empty"):
            export_bundle(session, campaign, directory)
    with store.session() as session, pytest.raises(BundleError, match="'original' already exists"):
        import_bundle(session, directory)
    with store.session() as session, pytest.raises(BundleError, match="lacks manifest.json"):
        import_bundle(session, tmp_path, "x")
    ledger = directory / "ledger.jsonl"
    ledger.write_text(ledger.read_text().replace('"cpu_s": 100.0', '"cpu_s": 1.0', 1))
    with store.session() as session, pytest.raises(BundleError, match="does not match the sha256"):
        import_bundle(session, directory, "tampered")
    manifest = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with store.session() as session, pytest.raises(BundleError, match="version 99"):
        import_bundle(session, directory, "future")
