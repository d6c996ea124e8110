"""The interfaces between the parts, on one screen. Imports nothing else of the project."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

JobRunner = Callable[[Any, int, Callable[[int, float], None]], dict]
"""A module-level function run in a worker: (job, threads, progress(step, loss)) -> plain-dict result."""

ProgressSink = Callable[["JobHandle", int, float], None]
"""Called in the orchestrator with (handle, step, loss) as a job reports progress."""


@dataclass
class JobOutcome:
    """A finished job: its result dict, or a one-line error and the traceback tail. Both are set when the job
    finished but the sandbox refused something on the way: the result is then not to be trusted."""

    job: Any
    result: dict | None
    error: str | None = None
    detail: str = ""
    timed_out: bool = False
    worker_lost: bool = False
    """The worker died from outside the job's own doing (killed, crashed, never started): the job itself may be
    sound, so it may be run again."""


@dataclass(eq=False)
class JobHandle:
    """A submitted job; executors keep their own state on it."""

    job: Any
    runner: JobRunner
    timeout_s: float
    on_progress: ProgressSink | None = None
    outcome: JobOutcome | None = None
    state: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """Runs jobs in sandboxed worker processes (a local pool, or Ray tasks)."""

    def submit(
        self, job: Any, runner: JobRunner, on_progress: ProgressSink | None = None, timeout_s: float | None = None
    ) -> JobHandle: ...

    def result(self, handle: JobHandle, timeout: float | None = None) -> JobOutcome:
        """Wait for one job (raises TimeoutError if ``timeout`` passes first)."""
        ...

    def cancel(self, handle: JobHandle, reason: str) -> None:
        """Stop a job now; its outcome becomes an error carrying ``reason``."""
        ...


@dataclass(frozen=True)
class Proposal:
    """A candidate layer as the Researcher proposes it."""

    name: str
    motivation: str
    code: str
    parents: tuple[str, ...] = ()
    operator: str = "seed"
    spec: dict | None = None


class Repairer(Protocol):
    """What the Engineer hands a failing proposal to (the Researcher's ``repair``)."""

    def repair(self, proposal: Proposal, failure: str) -> Proposal:
        """A new proposal that addresses ``failure`` (the failing gate's reason and traceback tail)."""
        ...


@dataclass(frozen=True)
class ExperimentBrief:
    """What a researcher is told about one experiment of memory (a parent, a reference, a failure)."""

    name: str
    code: str
    id: int | None = None
    spec: dict | None = None
    motivation: str = ""
    results: dict[str, float] = field(default_factory=dict)
    fitness: float | None = None
    analysis: str = ""
    failure: str = ""


@dataclass(frozen=True)
class CognitionHit:
    """A cognition entry retrieved for a context, with why it was retrieved."""

    source: str
    title: str
    insight: str
    motifs: tuple[str, ...] = ()
    score: float = 0.0
    query: str = ""


@dataclass(frozen=True)
class Credit:
    """Running statistics of the fitness change an edit or motif caused (kept by the Analyst)."""

    mean_delta: float
    count: int


@dataclass(frozen=True)
class ResearchContext:
    """Everything a researcher reads before proposing: built from memory by the loop."""

    parent: ExperimentBrief
    references: tuple[ExperimentBrief, ...] = ()
    cognition: tuple[CognitionHit, ...] = ()
    insights: tuple[str, ...] = ()
    failures: tuple[ExperimentBrief, ...] = ()
    credit: dict[str, Credit] = field(default_factory=dict)
    weaknesses: tuple[str, ...] = ()
    seed: int = 0


class Researcher(Protocol):
    """Where ideas come from: the offline program synthesiser or an LLM, behind one interface."""

    kind: str

    def propose(self, context: ResearchContext) -> Proposal:
        """A new candidate derived from the context's parent (and references)."""
        ...

    def repair(self, proposal: Proposal, failure: str) -> Proposal:
        """A new proposal that addresses ``failure`` (the failing gate's reason and traceback tail)."""
        ...
