"""Human oversight of campaigns: pause, resume and stop them from anywhere that reaches the store, replicate a
result on fresh seeds, and report the discovery curve (registered on ``cli.app``).

A campaign's loop reads its ``state`` row between steps, so these commands work from another terminal or another
machine sharing the store, and never interrupt a training job: in-flight work finishes and is stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.table import Table

from asiarch.agents.analyst import campaign_rules
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import ZOO_PREFIX, TaskSummary, summarise
from asiarch.bench.trainer import RunResult
from asiarch.cli import (
    ConfigOption,
    SetOption,
    StageOption,
    _config,
    _executor,
    _references,
    _stage,
    app,
    console,
    errors,
    fail,
    reference_progress,
)
from asiarch.config import AnalystConfig, Config, StageConfig
from asiarch.execute.evaluate import Evaluation, ReferenceJobError, WatchPlan, evaluate_all, reference_evaluations
from asiarch.execute.gate_job import gates_for
from asiarch.execute.local import LocalExecutor
from asiarch.memory_cli import _campaign, _store
from asiarch.report.curve import discovery_curve, write_csv, write_summary
from asiarch.report.replication import CI_LEVEL, Replication, compare
from asiarch.store.db import Store
from asiarch.store.queries import add_evaluation_rows, evaluations_of, run_result, set_campaign_state
from asiarch.store.schema import Campaign, Experiment, LedgerEntry
from asiarch.terminal import job_progress

CampaignArgument = Annotated[str, typer.Argument(help="Campaign name (see `asiarch status`).")]
STATE_EFFECTS = {
    "paused": "its loop waits before its next step; in-flight jobs finish and are stored",
    "running": "its loop goes on with its next step",
    "stopping": "its loop ends after storing its in-flight work; `asiarch run --campaign {name}` resumes it later",
}
CURVE_PNG = "discovery_curve.png"
CURVE_CSV = "discovery_curve.csv"
SUMMARY_JSON = "summary.json"
REPORT_DETAILS = 300
REPLICATE_SEED_OFFSET = 100_000
"""Replication seeds start here, far from any stage's own seeds; a stored experiment's next replication starts after
the seeds its earlier ones used, while a reference's always uses the same fresh seeds (comparable across machines)."""
MIN_REPLICATION_SEEDS = 2
REPLICATE_STAGE_PREFIX = "replicate:"


def _set_state(name: str, state: str, verb: str, config: Path | None, overrides: list[str] | None) -> None:
    store = _store(config, overrides)
    with store.session() as session:
        campaign = _campaign(session, name)
        before = campaign.state
        if before == "finished":
            fail(f"campaign {name!r} is finished, there is nothing to {verb}; continue it with "
                 f"`asiarch run --campaign {name}`")  # fmt: skip
        if before != state:
            set_campaign_state(session, campaign, state)
    if before == state:
        console.print(f"campaign {name!r} is already {state}", highlight=False)
        return
    console.print(f"campaign {name!r}: {before} → {state}; {STATE_EFFECTS[state].format(name=name)}", highlight=False)


@app.command()
def pause(campaign: CampaignArgument, config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Hold a running campaign before its next step (from any terminal or machine sharing the store)."""
    _set_state(campaign, "paused", "pause", config, overrides)


@app.command()
def resume(campaign: CampaignArgument, config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Let a paused campaign go on (or withdraw a stop its loop has not acted on yet)."""
    _set_state(campaign, "running", "resume", config, overrides)


@app.command()
def stop(campaign: CampaignArgument, config: ConfigOption = None, overrides: SetOption = None) -> None:
    """End a campaign cleanly at its next step: in-flight work is finished and stored, nothing is lost."""
    _set_state(campaign, "stopping", "stop", config, overrides)


@app.command()
def report(
    campaign: CampaignArgument,
    out: Annotated[Path, typer.Option("--out", help="Directory for the report (created).")],
    details: Annotated[
        int, typer.Option("--details", min=0, help="Best experiments whose full detail the report carries.")
    ] = REPORT_DETAILS,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Write a self-contained report folder: index.html (the observatory's overview, lineage tree, leaderboard,
    experiment details with diffs, discovery curve; opens from disk, no server), discovery_curve.png
    (discoveries and promoted candidates against compute-hours and experiments), discovery_curve.csv (one row per
    experiment) and summary.json (headline numbers, discoveries with p-values, best fitness over time, compute)."""
    from asiarch.report.render import render_curve  # matplotlib costs every other command ~0.4 s at start-up
    from asiarch.report.site import site_data, write_site

    store = _store(config, overrides, read_only=True)
    with store.session() as session:
        found = _campaign(session, campaign)
        curve = discovery_curve(session, found)
        data = site_data(session, found, details, CURVE_PNG)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(curve, out / CURVE_CSV)
        write_summary(curve, out / SUMMARY_JSON)
        render_curve(curve, out / CURVE_PNG)
        page = write_site(data, out)
    except OSError as exc:
        fail(f"cannot write the report to {out}: {exc.strerror}; choose a writable directory")
    summary = curve.summary()
    console.print(
        f"{campaign}: {summary['experiments']} experiments, promoted {summary['promoted']}, discoveries "
        f"{summary['discovery_count']}, {curve.compute_hours:.2f} compute-hours; wrote {page} (open it in a "
        f"browser), {CURVE_PNG}, {CURVE_CSV} and {SUMMARY_JSON}",
        highlight=False,
    )



@dataclass(frozen=True)
class Trial:
    """One replication: the target, run as ``candidate`` (zoo:NAME or a file), under the settings its claim was
    measured with, on ``seeds``."""

    cfg: Config
    label: str
    candidate: str
    stage: str
    stage_cfg: StageConfig
    analyst: AnalystConfig
    seeds: range

    @property
    def is_reference(self) -> bool:
        return self.candidate.startswith(ZOO_PREFIX)


@dataclass(frozen=True)
class Outcome:
    replication: Replication
    rows: list[tuple[str, RunResult]]
    """The target's new runs (label, result), at the best learning rate per task and seed, as the store keeps them."""
    cpu_s: float
    wall_s: float


@app.command()
def replicate(
    target: Annotated[str, typer.Argument(help="An experiment id from the store (see `asiarch leaderboard`), or "
                                               "zoo:NAME for a reference architecture.")],  # fmt: skip
    seeds: Annotated[
        Optional[int],
        typer.Option("--seeds", min=MIN_REPLICATION_SEEDS, help="Fresh seeds to run; default: the stage's, at least 2."),
    ] = None,
    stage: StageOption = "screen",
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Re-run a candidate and its rival references on fresh seeds on this machine and say whether its result
    holds; exits 1 when it does not.

    A stored experiment holds when its new fitness lies inside its old fitness's 95% interval (or, with one old
    seed, the old fitness inside the new seeds' interval), both scored against the references' cached and fresh
    seeds together; its new runs are stored under stage replicate:STAGE.
    A reference holds when every task's new seeds agree with its cached seeds (Welch p > 0.05, Bonferroni)."""
    cfg = _config(config, overrides)
    if target.startswith(ZOO_PREFIX):
        _references(cfg, target[len(ZOO_PREFIX) :])
        stage_cfg = _stage(cfg, stage)
        trial = Trial(cfg, target, target, stage, stage_cfg, cfg.analyst, _fresh_seeds(0, seeds, stage_cfg))
        outcome = _run(trial)
    else:
        trial, outcome = _replicate_experiment(cfg, _store(config, overrides), _experiment_id(target), stage, seeds)
    _print_replication(trial, outcome.replication)
    if not outcome.replication.holds:
        raise typer.Exit(1)


def _experiment_id(target: str) -> int:
    try:
        return int(target)
    except ValueError:
        fail(f"replicate takes an experiment id (see `asiarch leaderboard`) or zoo:NAME, not {target!r}")


def _fresh_seeds(already_replicated: int, seeds: int | None, stage_cfg: StageConfig) -> range:
    first = REPLICATE_SEED_OFFSET + already_replicated
    return range(first, first + (seeds or max(MIN_REPLICATION_SEEDS, stage_cfg.seeds)))


def _replicate_experiment(
    cfg: Config, store: Store, experiment_id: int, stage: str, seeds: int | None
) -> tuple[Trial, Outcome]:
    with store.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            fail(f"no experiment {experiment_id} in the store; list them with `asiarch leaderboard`")
        campaign = session.get(Campaign, experiment.campaign_id)
        rows = evaluations_of(session, experiment_id)
        label, code, campaign_id = f"{experiment.id} {experiment.name}", experiment.code, campaign.id
        stage_cfg, analyst, recorded = _measured_under(cfg, campaign, stage)
    old = [(row.task, run_result(row)) for row in rows if row.stage == stage]
    if not old:
        fail(f"experiment {label} has no results at stage {stage!r} (see `asiarch show {experiment_id}`); "
             "replicate it at a stage it was evaluated at")  # fmt: skip
    if recorded:
        console.print(f"using the stage and analyst settings recorded with campaign {recorded!r}", highlight=False)
    replicated = {row.seed for row in rows if row.stage == REPLICATE_STAGE_PREFIX + stage}
    with tempfile.TemporaryDirectory(prefix="asiarch-replicate-") as work:
        candidate = Path(work) / f"experiment_{experiment_id}.py"
        candidate.write_text(code, encoding="utf-8")
        trial = Trial(cfg, label, str(candidate), stage, stage_cfg, analyst,
                      _fresh_seeds(len(replicated), seeds, stage_cfg))  # fmt: skip
        outcome = _run(trial, old)
    with store.session() as session:
        add_evaluation_rows(session, experiment_id, REPLICATE_STAGE_PREFIX + stage, outcome.rows)
        session.add(LedgerEntry(campaign_id=campaign_id, experiment_id=experiment_id,
                                stage=REPLICATE_STAGE_PREFIX + stage, cpu_s=outcome.cpu_s, wall_s=outcome.wall_s))  # fmt: skip
    return trial, outcome


def _measured_under(cfg: Config, campaign: Campaign, stage: str) -> tuple[StageConfig, AnalystConfig, str | None]:
    """The stage and Analyst settings recorded with the campaign (what its numbers mean), else the current ones;
    and the campaign's name when it recorded any."""
    recorded = campaign.config or {}
    try:
        stage_cfg = StageConfig.model_validate(recorded["stages"][stage]) if stage in recorded.get("stages", {}) \
            else _stage(cfg, stage)  # fmt: skip
        analyst = campaign_rules(campaign) if "analyst" in recorded else cfg.analyst
    except ValidationError as exc:
        fail(f"campaign {campaign.name!r} recorded a config this asiarch cannot read ({exc.errors()[0]['msg']}); "
             "use the asiarch version that ran it")  # fmt: skip
    return stage_cfg, analyst, campaign.name if "stages" in recorded or "analyst" in recorded else None


def _run(trial: Trial, old_rows: list[tuple[str, RunResult]] | None = None) -> Outcome:
    """Run the target and its rivals on the trial's fresh seeds in one pool, and compare with the old seeds."""
    rivals = _references(trial.cfg, ",".join(trial.analyst.rivals))
    target_name = trial.candidate[len(ZOO_PREFIX) :] if trial.is_reference else None
    names = list(dict.fromkeys([*rivals, *([target_name] if target_name else [])]))
    executor = _executor(trial.cfg)
    cached = _cached_references(trial, names, executor)
    requests = {ZOO_PREFIX + name: trial.seeds for name in names} | {trial.candidate: trial.seeds}
    # Fresh seeds train at the learning rates the old seeds chose on validation: a replication re-measures the
    # result as it was selected, it does not select again.
    prior = {ZOO_PREFIX + name: cached[name].rows for name in names}
    if not trial.is_reference:
        prior[trial.candidate] = old_rows or []
    found, wall = evaluate_all(requests, trial.stage_cfg, executor,
                               job_progress(console, f"replicating {trial.label}", executor.workers),
                               WatchPlan.from_references(trial.cfg.execution.watchdog, cached),
                               prior=prior, recheck=gates_for(trial.cfg))  # fmt: skip
    broken = [outcome for name in names for outcome in found[ZOO_PREFIX + name].failures]
    if broken:
        fail(f"reference job failed: {broken[0].job.describe()}: {broken[0].error}; the harness itself is broken here")
    for failure in found[trial.candidate].failures:
        errors.print(f"[red]job failed[/] {failure.job.describe()}: {failure.error}", highlight=False)
    old = cached[target_name].tasks if target_name else summarise(old_rows or [])
    try:
        replication = compare(trial.label, trial.stage_cfg, old, _tasks(cached, rivals), found[trial.candidate].tasks,
                              _tasks({n: found[ZOO_PREFIX + n] for n in rivals}, rivals), trial.analyst,
                              trial.is_reference)  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    cpu = sum(result.cpu_s for evaluation in found.values() for _, result in evaluation.rows)
    best = [(label, result) for label, summary in found[trial.candidate].tasks.items() for result in summary.per_seed.values()]
    return Outcome(replication, best, cpu, wall)


def _tasks(evaluations: Mapping[str, Evaluation], names: list[str]) -> dict[str, dict[str, TaskSummary]]:
    return {name: evaluations[name].tasks for name in names}


def _cached_references(trial: Trial, names: list[str], executor: LocalExecutor) -> dict[str, Evaluation]:
    """The references' results on the stage's own seeds: cached on this machine, computed once if not."""
    try:
        return reference_evaluations(names, trial.stage, trial.stage_cfg, executor, BaselineCache(trial.cfg.cache_dir),
                                     reference_progress(trial.cfg, trial.stage, executor.workers),
                                     retries=trial.cfg.execution.reference_retries)  # fmt: skip
    except ReferenceJobError as exc:
        fail(f"{exc}; the harness itself is broken here, please report it")


def _print_replication(trial: Trial, outcome: Replication) -> None:
    seeds = f"{trial.seeds.start}–{trial.seeds.stop - 1}"
    table = Table(title=f"replication of {trial.label} at {trial.stage} on fresh seeds {seeds}", title_justify="left")
    for column in ("task", "metric", f"old mean [{CI_LEVEL:.0%} CI] (n)", f"new mean [{CI_LEVEL:.0%} CI] (n)",
                   "Welch p (two-sided)"):  # fmt: skip
        table.add_column(column)
    for task in outcome.tasks:
        table.add_row(task.label, task.metric, _cell(task.old_mean, task.old_ci, task.old_n, task.metric),
                      _cell(task.new_mean, task.new_ci, task.new_n, task.metric),
                      "–" if task.p is None else f"{task.p:.3g}")  # fmt: skip
    table.add_row("fitness", f"z vs {outcome.strongest}", _cell(outcome.old_fitness, outcome.old_ci),
                  _cell(outcome.new_fitness, outcome.new_ci), "–", style="bold")  # fmt: skip
    console.print(table)
    console.print(f"fitness against the references' cached and fresh seeds together; as first measured (cached "
                  f"seeds alone) it was {outcome.claimed_fitness:+.3f}", highlight=False)  # fmt: skip
    verdict = "[bold green]holds[/]" if outcome.holds else "[bold red]does not hold[/]"
    console.print(f"{verdict}: {outcome.reason}", highlight=False)


def _cell(mean: float | None, interval: tuple[float, float] | None, n: int | None = None, metric: str = "z") -> str:
    """A mean with its interval and seed count; accuracy in percent like the other result tables."""
    if mean is None:
        return "missing"
    scale, digits = (100.0, 2) if metric == "accuracy" else (1.0, 3 if metric == "z" else 4)
    text = f"{scale * mean:.{digits}f}"
    if interval is not None:
        text += f" [{scale * interval[0]:.{digits}f}, {scale * interval[1]:.{digits}f}]"
    return text + (f" ({n})" if n is not None else "")
