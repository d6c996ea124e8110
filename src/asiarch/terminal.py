"""Rich rendering for the command line: progress over training jobs and result tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from asiarch.arch.verdict import Verdict
from asiarch.bench.stages import ZOO_PREFIX, TaskSummary, TrainingJob
from asiarch.execute.evaluate import Evaluation


class _JobBar:
    """One bar over all training steps of a batch of jobs; closes itself when every step is done."""

    def __init__(self, console: Console, title: str, jobs: Sequence[TrainingJob]) -> None:
        self.steps = [0] * len(jobs)
        self.total = sum(job.steps for job in jobs)
        self.progress = Progress(
            TextColumn(f"[bold]{title}[/] {len(jobs)} jobs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task(title, total=self.total)
        self.progress.start()

    def __call__(self, index: int, steps: int) -> None:
        self.steps[index] = steps
        done = sum(self.steps)
        self.progress.update(self.task, completed=done)
        if done >= self.total:
            self.progress.stop()


def job_progress(console: Console, title: str) -> Callable[[Sequence[TrainingJob]], Callable[[int, int], None]]:
    """A factory the evaluator calls with its planned jobs; the bar is shown only if there is work."""

    def start(jobs: Sequence[TrainingJob]) -> Callable[[int, int], None]:
        return _JobBar(console, title, jobs)

    return start


def format_value(summary: TaskSummary, value: float) -> str:
    if math.isinf(value):
        return "diverged"
    return f"{100 * value:.2f}" if summary.metric == "accuracy" else f"{value:.4f}"


def _cell(summary: TaskSummary | None) -> str:
    if summary is None:
        return "—"
    spread = format_value(summary, summary.sd) if len(summary.values) > 1 else "n/a"
    return f"{format_value(summary, summary.mean)} ± {spread}"


def evaluation_tables(
    candidates: dict[str, Evaluation], references: dict[str, Evaluation], stage: str, wall_s: float | None
) -> list[Table]:
    """One table per task: rows are architectures (candidates first, bold), columns the headline and splits."""
    everything = {**candidates, **references}
    summaries = {name: ev.tasks for name, ev in everything.items()}
    labels = list(dict.fromkeys(label for tasks in summaries.values() for label in tasks))
    tables = []
    for label in labels:
        present = {name: tasks[label] for name, tasks in summaries.items() if label in tasks}
        example = next(iter(present.values()))
        unit = "accuracy %" if example.metric == "accuracy" else "nats/token, lower is better"
        table = Table(title=f"{stage} · {label} ({unit}; mean ± sd over seeds)", title_justify="left")
        table.add_column("architecture")
        table.add_column("seeds", justify="right")
        table.add_column(label, justify="right")
        splits = list(example.split_means())
        if len(splits) > 1:
            for split in splits:
                table.add_column(split, justify="right")
        table.add_column("CPU s/run", justify="right")
        ordered = sorted(present.items(), key=lambda item: -item[1].mean if item[1].higher_is_better else item[1].mean)
        for name, summary in ordered:
            is_candidate = name in candidates
            row = [
                name[len(ZOO_PREFIX) :] if name.startswith(ZOO_PREFIX) else name,
                str(len(summary.values)),
                _cell(summary),
            ]
            if len(splits) > 1:
                row += [format_value(summary, v) for v in summary.split_means().values()]
            cpu = [r.cpu_s for r in summary.per_seed.values()]
            row.append(f"{sum(cpu) / len(cpu):.0f}")
            table.add_row(*row, style="bold cyan" if is_candidate else None)
        tables.append(table)
    if wall_s is not None and tables:
        tables[-1].caption = f"candidate evaluation wall time {wall_s:.0f} s"
    return tables


def verdict_table(name: str, verdicts: Sequence[Verdict]) -> Table:
    """Gate, verdict, figures and reason, in the order the gates ran."""
    table = Table(title=f"gates · {name}", title_justify="left")
    for column in ("gate", "verdict", "figures", "reason"):
        table.add_column(column)
    for v in verdicts:
        figures = ", ".join(f"{key}={value:.3g}" for key, value in v.figures.items())
        table.add_row(v.gate, "[green]pass[/]" if v.passed else "[bold red]FAIL[/]", figures, v.reason)
    return table
