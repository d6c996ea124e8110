"""The ``asiarch`` command line."""

from __future__ import annotations

import ast
import errno
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from asiarch.agents.discovery import Family, budget_problems, decide
from asiarch.agents.engineer import Engineer
from asiarch.agents.fitness import fitness
from asiarch.arch.source_gates import source_too_large
from asiarch.arch.zoo import parse_reference
from asiarch.bench.baselines import BaselineCache
from asiarch.bench.stages import ZOO_PREFIX, TaskSummary, stage_seeds
from asiarch.bench.tasks import make_task
from asiarch.bench.tasks.base import TEST, VALIDATION
from asiarch.config import Config, ConfigError, StageConfig, load_config
from asiarch.execute.evaluate import (
    Evaluation,
    JobsStarted,
    ReferenceJobError,
    WatchPlan,
    evaluate_all,
    reference_evaluations,
)
from asiarch.execute.gate_job import gates_for
from asiarch.execute.local import LocalExecutor
from asiarch.execute.progress import StepTimer
from asiarch.store.db import StoreError
from asiarch.terminal import evaluation_tables, job_progress, verdict_table

app = typer.Typer(
    help="Autonomous, statistically honest discovery of sub-quadratic sequence-mixing layers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (see configs/).")]
SetOption = Annotated[
    Optional[list[str]], typer.Option("--set", help="Override a config key, e.g. --set execution.workers=4.")
]
StageOption = Annotated[str, typer.Option("--stage", help="Evaluation stage: screen or confirm.")]
ReferencesOption = Annotated[
    Optional[str], typer.Option("--references", help="Comma-separated zoo names; default: all in the config.")
]
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


@contextmanager
def storage_faults() -> Iterator[None]:
    """A store locked or out of space, or a full disk under the work or cache directory, is the machine's state,
    not a bug: one line naming where and the way out, instead of a traceback."""
    try:
        yield
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        where = f" at {exc.filename}" if exc.filename else ""
        fail(
            f"no space left on device{where}; free space there or move campaign.work_dir and cache_dir "
            "to a larger disk (--set campaign.work_dir=…)"
        )


def _config(config: Path | None, overrides: list[str] | None) -> Config:
    try:
        cfg = load_config(config, overrides)
        for stage in cfg.stages.values():
            for label, run in stage.tasks.items():
                try:
                    make_task(run.task, run.params)
                except (KeyError, ValueError) as exc:
                    raise ConfigError(f"stage task {label!r}: {exc}") from exc
        return cfg
    except ConfigError as exc:
        fail(str(exc))


def _stage(cfg: Config, name: str) -> StageConfig:
    try:
        return cfg.stage(name)
    except ConfigError as exc:
        fail(str(exc))


def _references(cfg: Config, names: str | None) -> list[str]:
    """Comma-separated references, each a zoo name with knobs set or not (``deltanet[q_scale=False]``)."""
    listed = re.split(r",(?![^\[]*\])", names) if names is not None else cfg.references  # no split inside [...]
    chosen = [n.strip() for n in listed if n.strip()]
    for spec in chosen:
        try:
            parse_reference(spec)
        except KeyError as exc:
            fail(exc.args[0])
        except ValueError as exc:
            fail(str(exc))
    return chosen


def _check_candidate_file(path: Path, cfg: Config) -> None:
    """Reject unreadable, oversized or unparsable files before any job starts; the code itself only runs in a
    worker."""
    limit = cfg.gates.max_source_kb * 1024
    try:
        size = path.stat().st_size
        if size > limit:
            fail(f"candidate file {path}: {source_too_large(size, limit)}")
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"candidate file {path} does not exist")
    except UnicodeDecodeError:
        fail(f"candidate file {path} is not UTF-8 text; pass a Python source file")
    except IsADirectoryError:
        fail(f"candidate file {path} is a directory; pass a Python source file")
    except OSError as exc:
        fail(f"cannot read candidate file {path}: {exc.strerror}; check its permissions")
    if not source.strip():
        fail(f"candidate file {path} is empty; write a Mixer class in it (see examples/)")
    try:
        ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        fail(f"candidate file {path} has a syntax error at line {exc.lineno}: {exc.msg}")


def _executor(cfg: Config) -> LocalExecutor:
    return LocalExecutor(cfg.execution)


@dataclass(frozen=True)
class StageVerdict:
    """What a campaign would do with a candidate's results at a stage: fitness, and the verdict with its text."""

    fitness: dict | None
    verdict: dict
    text: str


def stage_verdict(
    cfg: Config, stage: str, candidate: dict[str, TaskSummary], references: dict[str, dict[str, TaskSummary]]
) -> StageVerdict:
    """Fitness against the strongest rival and the campaign's decision: promotion at screen (on validation, with the
    budget at every width), the sequential discovery test at a later stage (on test, at the last look the seeds
    reach, in the family the config declares)."""
    stage_cfg = cfg.stage(stage)
    if not any(name in references for name in cfg.analyst.rivals):
        return StageVerdict(None, {"decision": None}, "No verdict: none of analyst.rivals is among the references.")
    split = VALIDATION if stage == "screen" else TEST
    report = fitness(stage_cfg, candidate, references, cfg.analyst, split)
    scored = {"value": report.value, "split": split, "strongest": report.strongest,
              "per_task": {label: task.z for label, task in report.per_task.items()}}  # fmt: skip
    head = f"Fitness {report.value:+.2f} against {report.strongest} ({split} split)."
    if stage == "screen":
        over = budget_problems(candidate, stage_cfg, cfg.gates.parameter_tolerance)
        promote = report.value >= cfg.analyst.promote_min_fitness and not over
        why = "; ".join(over) if over else f"fitness {'≥' if promote else '<'} {cfg.analyst.promote_min_fitness:+g}"
        verdict = {"decision": "promote" if promote else "do not promote", "reasons": over}
        return StageVerdict(scored, verdict, f"{head} A campaign would {verdict['decision']} it to confirm ({why}).")
    seeds = min((len(task.per_seed) for task in candidate.values()), default=0)
    reached = [look for look, count in enumerate(stage_cfg.look_counts()) if count <= seeds]
    if not reached:
        return StageVerdict(scored, {"decision": None}, f"{head} No discovery test: fewer seeds than the first look.")
    decided = decide(candidate, references, stage_cfg, cfg.analyst, Family.of(cfg.analyst), reached[-1],
                     cfg.gates.parameter_tolerance)  # fmt: skip
    return StageVerdict(scored, {"decision": decided.outcome, **asdict(decided)}, f"{head} {decided.reason}.")


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="Candidate file: a Mixer class or an ASI-Arch DeltaNet file.")],
    stage: StageOption = "screen",
    seeds: Annotated[Optional[int], typer.Option("--seeds", min=1, help="Seeds for the candidate.")] = None,
    references: ReferencesOption = None,
    save: Annotated[Optional[Path], typer.Option("--save", help="Also write all results as JSON here.")] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Train a candidate on a stage's tasks and compare it with the reference architectures.

    Reference results are computed once per machine and cached; nothing else is stored unless --save is given.
    """
    cfg = _config(config, overrides)
    stage_cfg = _stage(cfg, stage)
    names = _references(cfg, references)
    _check_candidate_file(file, cfg)
    executor = _executor(cfg)
    _require_gates(cfg, file, executor)
    refs = _reference_results(cfg, names, stage, executor, refresh=False)
    candidate_seeds = stage_seeds(stage_cfg, seeds or stage_cfg.seeds)
    watch = WatchPlan.from_references(cfg.execution.watchdog, refs)
    found, wall = evaluate_all(
        {str(file): candidate_seeds},
        stage_cfg,
        executor,
        job_progress(console, file.name, executor.workers, StepTimer(cfg.execution.threads_per_worker)),
        watch,
        recheck=gates_for(cfg),
    )
    evaluation = found[str(file)]
    for failure in evaluation.failures:
        errors.print(f"[red]job failed[/] {failure.job.describe()}: {failure.error}", highlight=False)
        if failure.detail:
            errors.print(failure.detail, highlight=False, markup=False)
    if not evaluation.rows:
        fail(f"every job of {file} failed; the first error is above")
    for table in evaluation_tables({file.name: evaluation}, refs, stage, wall):
        console.print(table)
    judged = stage_verdict(cfg, stage, evaluation.tasks, {name: ev.tasks for name, ev in refs.items()})
    console.print(judged.text, highlight=False)
    if save is not None:
        payload = {
            ev.candidate: [{"label": label, **result.to_dict()} for label, result in ev.rows]
            for ev in (evaluation, *refs.values())
        }
        payload.update(fitness=judged.fitness, verdict=judged.verdict)
        try:
            save.write_text(json.dumps(payload, indent=1))
        except OSError as exc:
            fail(f"cannot write results to {save}: {exc.strerror}; choose a writable path")
        console.print(f"results written to {save}")


def _reference_results(
    cfg: Config, names: list[str], stage: str, executor: LocalExecutor, refresh: bool
) -> dict[str, Evaluation]:
    try:
        with storage_faults():
            return reference_evaluations(
                names,
                stage,
                cfg.stage(stage),
                executor,
                BaselineCache(cfg.cache_dir),
                reference_progress(cfg, stage, executor.workers),
                refresh,
                retries=cfg.execution.reference_retries,
            )
    except ReferenceJobError as exc:
        fail(f"{exc}; the harness itself is broken here, please report it")


def reference_progress(cfg: Config, stage: str, workers: int) -> JobsStarted:
    """The terminal's progress for measuring references: estimated up front, and it says they are cached."""
    note = f"; cached in {cfg.cache_dir} for every later run"
    timer = StepTimer(cfg.execution.threads_per_worker)
    return job_progress(console, f"measuring the references at {stage}", workers, timer, note)


def _require_gates(cfg: Config, file: Path, executor: LocalExecutor) -> None:
    verdicts = Engineer(cfg, executor).check(file)
    if not verdicts[-1].passed:
        console.print(verdict_table(file.name, verdicts))
        fail(f"{file} failed the {verdicts[-1].gate} gate: {verdicts[-1].reason}")


@app.command()
def check(
    file: Annotated[
        str, typer.Argument(help="Candidate file (a Mixer class or an ASI-Arch DeltaNet file), or zoo:NAME.")
    ],
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Run every gate on a candidate in a sandboxed worker process and print a table; exits 1 if one fails.

    Gates in order: parse, contract, imports, load, instantiate, shape, finite, repeatability, causality,
    prefix consistency, batch independence, receptive field, parameter budget, speed, sub-quadratic scaling
    (plus sandbox, memory and timeout when the candidate trips them)."""
    cfg = _config(config, overrides)
    if file.startswith(ZOO_PREFIX):
        _references(cfg, file[len(ZOO_PREFIX) :])
    else:
        _check_candidate_file(Path(file), cfg)
    verdicts = Engineer(cfg, _executor(cfg)).check(file)
    console.print(verdict_table(Path(file).name, verdicts))
    if not verdicts[-1].passed:
        raise typer.Exit(1)


@app.command()
def baselines(
    stage: StageOption = "screen",
    references: ReferencesOption = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Recompute even if cached.")] = False,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Compute (or show cached) results of the reference architectures at a stage on this machine."""
    cfg = _config(config, overrides)
    stage_cfg = _stage(cfg, stage)
    executor = _executor(cfg)
    refs = _reference_results(cfg, _references(cfg, references), stage, executor, refresh)
    for table in evaluation_tables({}, refs, stage, None):
        console.print(table)
    console.print(f"cached in {BaselineCache(cfg.cache_dir).path(stage, stage_cfg, executor.threads)}")


@app.command("config")
def show_config(config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Print the effective configuration as YAML (defaults, then the file, then --set overrides)."""
    import yaml

    cfg = _config(config, overrides)
    console.print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), highlight=False, markup=False)


# The cognition base's commands register themselves on ``app`` the same way.
import asiarch.cognition_cli  # noqa: E402, F401

# Oversight (pause/resume/stop, replicate, report) likewise; it builds on the store's commands below.
import asiarch.oversight_cli  # noqa: E402, F401

# `asiarch run`, the campaign, builds on all of the above.
import asiarch.run_cli  # noqa: E402, F401

# `asiarch serve`, the observatory (read-only).
import asiarch.serve_cli  # noqa: E402, F401

# The store's commands live in their own module and register themselves on ``app``.
from asiarch import memory_cli  # noqa: E402, F401
