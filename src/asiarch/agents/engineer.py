"""The Engineer: turns a proposal into a candidate that passed every gate, or a recorded failure.

Every gate run happens in a sandboxed worker (``execute``); the orchestrator only ever sees
verdicts. When a gate fails, the verdict — reason plus traceback tail — goes to the repairer (the
Researcher's ``repair``) and the repaired code is checked again from scratch, up to
``max_repairs`` times. Every attempt is kept, failures included: they are memory too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from asiarch.arch.verdict import Verdict
from asiarch.bench.stages import located
from asiarch.config import Config
from asiarch.execute.gate_job import GateJob, gates_for, outcome_verdicts, run_gate_job
from asiarch.protocols import Executor, Proposal, Repairer

FILE_STEM_CHARS = 40


@dataclass(frozen=True)
class Attempt:
    """One version of a proposal, the file it was written to and what the gates said."""

    proposal: Proposal
    path: Path
    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and self.verdicts[-1].passed

    @property
    def failure(self) -> str:
        """The failing gate, its reason and traceback tail: what a repairer is given."""
        if self.passed:
            return ""
        last = self.verdicts[-1]
        return f"gate {last.gate} failed: {last.reason}" + (f"\n{last.detail}" if last.detail else "")


@dataclass
class Realization:
    """All attempts at one proposal, in order; the last one passed if any did."""

    attempts: list[Attempt] = field(default_factory=list)
    repair_error: str | None = None

    @property
    def candidate(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts and self.attempts[-1].passed else None


class Engineer:
    """Gates and repairs proposals on an executor; one instance per campaign."""

    def __init__(self, config: Config, executor: Executor, repairer: Repairer | None = None) -> None:
        self.config = config
        self.executor = executor
        self.repairer = repairer

    def check(self, path: Path | str, width: tuple[int, int] | None = None) -> list[Verdict]:
        """Run every gate on a candidate file (or ``zoo:NAME``) in a sandboxed worker, stopping at the first
        failure; at the gates' width, or at ``width`` = (d_model, num_heads) (a stage's, to re-check a layer
        where it trains)."""
        timeout = self.config.execution.gate_timeout_s
        gates = gates_for(self.config)
        if width is not None:
            gates = gates.model_copy(update={"d_model": width[0], "num_heads": width[1]})
        job = GateJob(located(str(path)), gates)
        handle = self.executor.submit(job, run_gate_job, timeout_s=timeout)
        return outcome_verdicts(self.executor.result(handle), timeout)

    def realize(self, proposal: Proposal, directory: Path) -> Realization:
        """Write, gate and (on failure) repair ``proposal`` until it passes or the repairs run out."""
        realization = Realization()
        for round_ in range(self.config.engineer.max_repairs + 1):
            path = write_candidate(proposal, directory)
            attempt = Attempt(proposal, path, self.check(path))
            realization.attempts.append(attempt)
            if attempt.passed or self.repairer is None or round_ == self.config.engineer.max_repairs:
                break
            try:
                proposal = self.repairer.repair(proposal, attempt.failure)
            except Exception as exc:  # noqa: BLE001 - a failing repairer ends the loop; the attempts stay recorded
                realization.repair_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                break
        return realization


def write_candidate(proposal: Proposal, directory: Path) -> Path:
    """Write the proposal's code to ``directory/<name>-<hash>.py`` (same code, same file)."""
    stem = re.sub(r"[^a-z0-9]+", "_", proposal.name.lower()).strip("_")[:FILE_STEM_CHARS] or "candidate"
    digest = hashlib.sha256(proposal.code.encode()).hexdigest()[:10]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{digest}.py"
    try:
        path.write_text(proposal.code, encoding="utf-8")
    except OSError as exc:  # a full disk: name the file (a failed write does not), and leave no truncated candidate
        path.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    return path
