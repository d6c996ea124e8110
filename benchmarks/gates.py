"""Cost and false positives of the gates (the parts that exist so far: static + behavioural).

Prints, for every zoo reference (in-process: trusted code) and every bundled example and defect
file (through a worker process, as `asiarch check` runs them), the gate verdict and wall time,
then the false-positive count on the zoo and examples (target 0) and how many defects were caught.

Usage: python benchmarks/gates.py
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asiarch.arch.gates import run_layer_gates
from asiarch.arch.zoo import ZOO
from asiarch.config import Config
from asiarch.execute.gate_job import GateJob, run_gate_job
from asiarch.execute.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    cfg = Config()
    console = Console()
    table = Table(title="gates per candidate", title_justify="left")
    for column in ("candidate", "kind", "verdict", "wall s"):
        table.add_column(column)
    false_positives = caught = defects = 0
    for name, cls in ZOO.items():
        started = time.perf_counter()
        verdicts = run_layer_gates(lambda cls=cls: cls(cfg.gates.d_model, cfg.gates.num_heads), cfg.gates)
        passed = verdicts[-1].passed
        false_positives += not passed
        table.add_row(
            name,
            "zoo (in process)",
            "pass" if passed else f"FAIL {verdicts[-1].gate}",
            f"{time.perf_counter() - started:.2f}",
        )
    executor = LocalExecutor(1, cfg.execution.threads_per_worker, cfg.execution.job_timeout_s)
    files = [(p, False) for p in sorted((ROOT / "examples").glob("*.py"))]
    files += [(p, True) for p in sorted((ROOT / "tests" / "arch" / "defects").glob("*.py"))]
    for path, is_defect in files:
        started = time.perf_counter()
        (outcome,) = executor.run([GateJob(str(path), cfg.gates)], runner=run_gate_job)
        wall = time.perf_counter() - started
        last = outcome.result["verdicts"][-1] if outcome.result else {"passed": False, "gate": "sandbox"}
        if is_defect:
            defects += 1
            caught += not last["passed"]
        else:
            false_positives += not last["passed"]
        verdict = "pass" if last["passed"] else f"FAIL {last['gate']}"
        table.add_row(path.name, "defect (worker)" if is_defect else "example (worker)", verdict, f"{wall:.2f}")
    console.print(table)
    console.print(f"false positives on zoo and examples: {false_positives}; defects caught: {caught}/{defects}")


if __name__ == "__main__":
    main()
