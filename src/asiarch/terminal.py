"""Rich rendering for the command line: progress over training jobs and result tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from asiarch.arch.verdict import Verdict
from asiarch.bench.stages import ZOO_PREFIX, TaskSummary, TrainingJob
from asiarch.execute.evaluate import Evaluation, JobsStarted
from asiarch.execute.progress import JobBoard, StepTimer, duration


def board_view(board: JobBoard) -> Group:
    """A batch of jobs as the terminal shows it: a bar over jobs with elapsed time and ETA, then one line per
    running job with its steps."""
    eta = board.eta_s()
    bar = ProgressBar(total=max(1, len(board.jobs)), completed=board.done, width=30)
    head = Table.grid(padding=(0, 1))
    head.add_row(
        f"[bold]{escape(board.title)}[/]",
        bar,
        f"{board.done}/{len(board.jobs)} jobs",
        f"{duration(board.elapsed_s)} elapsed",
        f"about {duration(eta)} left" if eta is not None else "",
    )
    lines = [f"  [dim]running[/] {escape(job.describe())}  step {steps}/{job.steps}" for job, steps in board.running()]
    return Group(head, *lines)


def announcement(board: JobBoard, note: str = "") -> str:
    """What a batch is about to cost, said before it starts."""
    estimate = f", about {duration(board.estimate_s)} on this machine" if board.estimate_s is not None else ""
    return f"{board.title}: {len(board.jobs)} training jobs on {board.workers} workers{estimate}{note}"


class _TerminalBoard(JobBoard):
    """A board drawn live on the terminal until its batch is over."""

    def __init__(self, console: Console, title: str, jobs: Sequence[TrainingJob], workers: int,
                 estimate_s: float | None) -> None:  # fmt: skip
        super().__init__(title, jobs, workers, estimate_s)
        self.live = Live(board_view(self), console=console, refresh_per_second=4, transient=True)
        self.live.start()

    def step(self, index: int, steps: int) -> None:
        super().step(index, steps)
        self.live.update(board_view(self))

    def finish(self, index: int) -> None:
        super().finish(index)
        self.live.update(board_view(self))

    def close(self) -> None:
        self.live.stop()


class _PlainBoard(JobBoard):
    """A board for a pipe: one plain line per finished job."""

    def __init__(self, console: Console, title: str, jobs: Sequence[TrainingJob], workers: int,
                 estimate_s: float | None) -> None:  # fmt: skip
        super().__init__(title, jobs, workers, estimate_s)
        self.console = console

    def finish(self, index: int) -> None:
        super().finish(index)
        self.console.print(self.record(self.jobs[index]), highlight=False, markup=False, soft_wrap=True)


def job_progress(
    console: Console, title: str, workers: int, timer: StepTimer | None = None, note: str = ""
) -> JobsStarted:
    """A factory the evaluator calls with each batch's planned jobs: it says what the batch will cost (estimated
    with ``timer`` when given) and shows its progress until the batch is over: live on a terminal, one line per
    finished job in a pipe."""

    def start(jobs: Sequence[TrainingJob]) -> JobBoard:
        kind = _TerminalBoard if console.is_terminal else _PlainBoard
        board = kind(console, title, jobs, workers, timer.estimate(jobs, workers) if timer else None)
        console.print(announcement(board, note), highlight=False, markup=False, soft_wrap=True)
        return board

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
