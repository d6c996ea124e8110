"""`asiarch run`: the autonomous campaign, with a live view and a leaderboard at the end."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from asiarch.agents.researcher.llm import LLMAssessor, LLMJudge, LLMResearcher
from asiarch.agents.researcher.offline.researcher import OfflineResearcher, check_windows
from asiarch.cli import ConfigOption, SetOption, _config, app, console, fail, storage_faults
from asiarch.cognition.retrieval import open_index
from asiarch.config import Config
from asiarch.execute.evaluate import ReferenceJobError
from asiarch.execute.local import LocalExecutor
from asiarch.execute.progress import JobBoard
from asiarch.execute.ray import RayExecutor, RayUnavailable
from asiarch.llm.replay import client_for
from asiarch.loop import CampaignSummary, open_campaign, run_campaign
from asiarch.memory_cli import leaderboard_table
from asiarch.protocols import Researcher
from asiarch.store.db import Store, open_store
from asiarch.store.queries import find_campaign
from asiarch.terminal import announcement, board_view

RECENT_EVENTS = 8
"""Lines of recent activity kept in the live view."""
REDRAW_S = 0.25
"""Least time between two redraws for training steps (workers report every step)."""


class LiveView:
    """Budget bar, recent activity, best fitness and discoveries, redrawn at every step of the loop."""

    def __init__(self, name: str, budget: int) -> None:
        self.progress = Progress(
            TextColumn(f"[bold]{name}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("experiments"),
            TimeElapsedColumn(), console=console,
        )  # fmt: skip
        self.task = self.progress.add_task("experiments", total=budget)
        self.events: deque[str] = deque(maxlen=RECENT_EVENTS)
        self.best: tuple[float, str] | None = None
        self.discoveries = 0
        self.board: JobBoard | None = None
        self.drawn = 0.0
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.live.__exit__(*exc_info)

    def __call__(self, event: str, **details: object) -> None:
        name = escape(str(details.get("name", "")))  # names and reasons come from candidates: never markup
        if event in ("job_step", "job_done"):
            if time.monotonic() - self.drawn >= REDRAW_S or event == "job_done":
                self._redraw()
            return
        if event == "jobs":
            self.board = details["board"]
            self.events.append(escape(announcement(self.board)))
        elif event == "jobs_over":
            self.board = None
        elif event == "batch":
            self.progress.update(self.task, completed=details["done"])
        elif event == "analysed":
            fitness = float(details["fitness"])
            if self.best is None or fitness > self.best[0]:
                self.best = (fitness, str(name))
            promoted = " → confirm" if details.get("promoted") else ""
            self.events.append(f"[cyan]analysed[/] #{details['id']} {name}: fitness {fitness:+.2f}{promoted}")
        elif event == "confirmed" and details.get("stage", "confirm") != "confirm":
            held = "holds" if details["discovery"] else "does not hold"
            self.events.append(f"[magenta]{details['stage']}[/] #{details['id']} {name}: {held} (p={details['p']:.3g})")
        elif event == "confirmed":
            self.discoveries += bool(details["discovery"])
            verdict = "[bold green]DISCOVERY[/]" if details["discovery"] else "not a discovery"
            self.events.append(f"[magenta]confirmed[/] #{details['id']} {name}: {verdict} (p={details['p']:.3g})")
        elif event in ("rejected", "failed"):
            self.events.append(f"[yellow]{event}[/] #{details['id']} {name}: {escape(str(details.get('reason')))}")
        elif event == "training":
            self.events.append(f"training {len(details['ids'])} experiment(s) at {details['stage']}")
        elif event == "paused":
            self.events.append("[yellow]paused[/]: waiting for `asiarch resume`")
        self._redraw()

    def _redraw(self) -> None:
        self.drawn = time.monotonic()
        self.live.update(self._render())

    def _render(self) -> Group:
        status = Table.grid(padding=(0, 2))
        best = f"{self.best[0]:+.3f} ({self.best[1]})" if self.best else "–"
        status.add_row("best fitness", best, "discoveries", str(self.discoveries))
        jobs = [board_view(self.board)] if self.board is not None else []
        return Group(self.progress, *jobs, status, *self.events)


def build_researcher(cfg: Config, store: Store, campaign_id: int) -> Researcher:
    """The configured researcher: offline by default, the LLM one with every call recorded for this campaign."""
    if cfg.researcher.kind == "llm":
        return LLMResearcher(cfg, client_for(cfg.llm, store, campaign_id))
    return OfflineResearcher.from_config(cfg)


def build_judges(cfg: Config, store: Store, campaign_id: int) -> dict[str, Callable]:
    """The LLM judges the config switches on (``analyst.judge_weight`` > 0, ``novelty.llm_judge``), as
    ``run_campaign`` keywords; none by default, so an offline campaign makes no call."""
    judges: dict[str, Callable] = {}
    if cfg.analyst.judge_weight > 0:
        judges["fitness_judge"] = LLMAssessor(client_for(cfg.llm, store, campaign_id))
    if cfg.novelty.llm_judge:
        judges["repeat_judge"] = LLMJudge(client_for(cfg.llm, store, campaign_id))
    return judges


def build_executor(kind: str, cfg: Config) -> LocalExecutor | RayExecutor:
    """The local process pool, or Ray tasks on the cluster ``execution.ray.address`` names."""
    if kind == "local":
        return LocalExecutor(cfg.execution)
    try:
        return RayExecutor(cfg.execution)
    except RayUnavailable as exc:
        fail(str(exc))


@app.command()
def run(
    campaign: Annotated[str, typer.Option("--campaign", help="Campaign name: new, or one to resume.")] = "default",
    max_experiments: Annotated[Optional[int], typer.Option("--max-experiments", min=1, help="Proposal budget.")] = None,
    max_hours: Annotated[Optional[float], typer.Option("--max-hours", min=0.001, help="Wall-clock budget.")] = None,
    researcher: Annotated[
        Optional[str], typer.Option("--researcher", help="offline (no model, default) or llm (see docs/llm.md).")
    ] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) or ray.")] = "local",
    db: Annotated[Optional[str], typer.Option("--db", help="SQLite path or postgresql+psycopg:// URL.")] = None,
    strategy: Annotated[
        Optional[str], typer.Option("--strategy", help="evolution (default), random or zoo-only: search baselines.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No live view; one line per finished run (the default in a pipe).")
    ] = False,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Run a campaign: propose, gate, train, analyse and promote candidates under a budget; resumable.

    Runs offline on the CPU by default. Stop it with Ctrl-C or `asiarch stop CAMPAIGN` (from anywhere sharing
    the store) and continue it later with the same command: nothing in flight is lost or run twice.
    """
    if executor not in ("local", "ray"):
        fail(f"--executor must be local or ray, got {executor!r}")
    options = {"campaign.max_experiments": max_experiments, "campaign.max_hours": max_hours,
               "researcher.kind": researcher, "campaign.strategy": strategy}  # fmt: skip
    extra = [f"{key}={value}" for key, value in options.items() if value is not None]
    cfg = _config(config, [*(overrides or []), *extra])
    try:
        check_windows(cfg)
    except ValueError as exc:
        fail(str(exc))
    with storage_faults():
        store = open_store(db or cfg.store)
        campaign_id = open_campaign(store, campaign, cfg)
        agent = build_researcher(cfg, store, campaign_id)
        judges = build_judges(cfg, store, campaign_id)
        index = open_index(cfg)
        pool = build_executor(executor, cfg)
        try:
            if quiet or not console.is_terminal:  # a pipe gets plain lines, not a redrawn screen
                summary = run_campaign(
                    cfg, store, campaign, agent, pool, retrieve=index.search_many, view=_quiet_view, **judges
                )
            else:
                with LiveView(campaign, cfg.campaign.max_experiments) as view:
                    summary = run_campaign(
                        cfg, store, campaign, agent, pool, retrieve=index.search_many, view=view, **judges
                    )
        except ReferenceJobError as exc:
            fail(f"{exc}; the harness itself is broken here, please report it")
        finally:
            pool.close()
        _print_summary(summary, store)


def _quiet_view(event: str, **details: object) -> None:
    if event == "jobs":
        console.print(announcement(details["board"]), highlight=False, markup=False, soft_wrap=True)
    elif event == "job_done":
        console.print(details["board"].record(details["job"]), highlight=False, markup=False, soft_wrap=True)
    elif event in ("analysed", "rejected", "failed", "confirmed"):
        fitness = f" fitness {details['fitness']:+.3f}" if "fitness" in details else ""
        reason = f": {details['reason']}" if details.get("reason") else ""
        console.print(f"{event} #{details['id']} {details['name']}{fitness}{reason}", highlight=False, markup=False)


def _print_summary(summary: CampaignSummary, store: Store) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.by_status.items()))
    outside = 1 - summary.training_wall_s / summary.wall_s if summary.wall_s else 0.0
    console.print(
        f"campaign {summary.name}: {summary.stop_reason}. {summary.experiments} experiments ({counts}); "
        f"{summary.wall_s / 60:.1f} min wall, {outside:.0%} of it outside training.",
        highlight=False,
    )
    with store.session() as session:
        found = find_campaign(session, summary.name)
        console.print(leaderboard_table(session, [found], top=10))
