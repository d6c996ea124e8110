"""The gate check of one candidate file, run inside a worker process like any training job.

Static gates first (they read the source only); the candidate is imported only when they pass,
and the behavioural gates then probe the built layer — all in the worker, never here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from asiarch.arch.gates import run_layer_gates
from asiarch.arch.loader import CandidateError, load_candidate
from asiarch.arch.source_gates import run_source_gates
from asiarch.arch.verdict import Verdict
from asiarch.arch.zoo import reference
from asiarch.bench.stages import ZOO_PREFIX
from asiarch.bench.tasks import make_task
from asiarch.bench.trainer import ProgressCallback
from asiarch.config import Config, GatesConfig
from asiarch.execute.sandbox import take_violations
from asiarch.protocols import JobOutcome


@dataclass(frozen=True)
class GateJob:
    """Check one candidate file with the configured probes."""

    path: str
    gates: GatesConfig

    def describe(self) -> str:
        return f"gates {self.path}"


def gates_for(config: Config) -> GatesConfig:
    """The gates' settings with ``stage_seq_lens`` filled from every stage's task runs unless the user set it.

    Filled here, not in the config package: a task's default length lives with the task (``asiarch.bench``),
    which the config package does not import."""
    if config.gates.stage_seq_lens is not None:
        return config.gates
    lengths = {
        make_task(run.task, run.params).seq_len for stage in config.stages.values() for run in stage.tasks.values()
    }
    return config.gates.model_copy(update={"stage_seq_lens": sorted(lengths)})


def check_candidate(path: str, cfg: GatesConfig) -> list[Verdict]:
    """All gates in order, stopping at the first failure. ``zoo:NAME`` checks a reference architecture
    (trusted project source, so the static gates are skipped) to show its figures."""
    if path.startswith(ZOO_PREFIX):
        name = path[len(ZOO_PREFIX) :]
        cls = reference(name)
        verdicts = [Verdict("load", True, f"reference {name} from the zoo (project source: static gates skipped)")]
        return verdicts + run_layer_gates(lambda: cls(cfg.d_model, cfg.num_heads), cfg)
    verdicts = run_source_gates(Path(path).read_text(encoding="utf-8"), path, cfg.max_source_kb * 1024)
    if not verdicts[-1].passed:
        return verdicts
    try:
        spec = load_candidate(path)
    except CandidateError as exc:
        return [*verdicts, Verdict("load", False, str(exc))]
    verdicts.append(Verdict("load", True, f"loaded {spec.kind} class {spec.cls.__name__}"))
    return verdicts + run_layer_gates(lambda: spec.build(cfg.d_model, cfg.num_heads), cfg)


def run_gate_job(job: GateJob, threads: int, report: ProgressCallback | None = None) -> dict:
    """Worker entry point: the verdicts as plain dicts. An attempt the sandbox refused fails the
    ``sandbox`` gate even when the candidate caught the exception and the other gates passed."""
    torch.set_num_threads(threads)
    verdicts = check_candidate(job.path, job.gates)
    refused = take_violations()
    if refused:
        verdicts = [v for v in verdicts if v.passed] + [Verdict("sandbox", False, refused[0])]
    return {"verdicts": [asdict(v) for v in verdicts]}


def outcome_verdicts(outcome: JobOutcome, timeout_s: float) -> list[Verdict]:
    """The verdicts of a finished gate job, or the one verdict that explains why there are none."""
    if outcome.result is not None:
        verdicts = [Verdict(**v) for v in outcome.result["verdicts"]]
        if outcome.error is not None and not any(v.gate == "sandbox" for v in verdicts):
            # refused on the way (the worker's own record was cleared, or library code was rebound): that failure
            # comes first, as in run_gate_job
            verdicts = [v for v in verdicts if v.passed] + [Verdict("sandbox", False, outcome.error)]
        return verdicts
    if outcome.timed_out:
        return [
            Verdict(
                "timeout",
                False,
                f"the gates did not finish within {timeout_s:g} s and the worker was killed: an infinite loop, or a "
                "layer far too slow to train",
            )
        ]
    gate = "sandbox" if (outcome.error or "").startswith("sandbox:") else "worker"
    return [Verdict(gate, False, outcome.error or "the gate worker failed without a message")]
