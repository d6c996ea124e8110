"""Cost and false positives of the full gate suite, run as `asiarch check` runs it.

Every zoo reference (as `zoo:NAME`), bundled example and defect file goes through the Engineer: a fresh sandboxed
worker per candidate (process start and imports included in the time). Prints the verdict and
wall time per candidate, then the false-positive count on the zoo and examples (target 0; the
softmax reference is expected to fail `subquadratic`, which is what that gate is for) and how
many defects the right gate caught. Target: ≤ 20 s per width-64 candidate on 2 cores.

Usage: python benchmarks/gates.py [--gate-timeout 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from asiarch.agents.engineer import Engineer
from asiarch.arch.zoo import ZOO
from asiarch.config import load_config
from asiarch.execute.local import LocalExecutor

ROOT = Path(__file__).resolve().parents[1]
EXPECTED_GATE = {
    "batch_statistics": "batch_independence", "bloated_parameters": "parameter_budget", "escape_file": "sandbox",
    "escape_network": "sandbox", "escape_shell": "sandbox", "infinite_loop": "timeout", "memory_bomb": "memory",
    "nan_output": "finite", "per_token_loop": "speed", "quadratic_attention": "subquadratic",
    "quadratic_fused_attention": "subquadratic", "stateful": "repeatability", "wrong_shape": "shape",
}  # fmt: skip
"""Defects not listed here are leaks: the causality gate must catch them."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gate-timeout", type=float, default=30.0, help="Seconds before a hung gate run is killed.")
    args = parser.parse_args()
    cfg = load_config(None, ["execution.workers=1", f"execution.gate_timeout_s={args.gate_timeout}"])
    engineer = Engineer(cfg, LocalExecutor(cfg.execution))
    console = Console()
    table = Table(title="full gate suite per candidate (fresh sandboxed worker each)", title_justify="left")
    for column in ("candidate", "kind", "verdict", "expected", "wall s"):
        table.add_column(column)
    false_positives = caught = defects = 0
    honest_times: list[float] = []
    controls = [(f"zoo:{name}", f"zoo:{name}") for name in ZOO]
    controls += [(p.name, p) for p in sorted((ROOT / "examples").glob("*.py"))]
    defect_files = [(p.name, p) for p in sorted((ROOT / "tests" / "arch" / "defects").glob("*.py"))]
    for label, path in controls + defect_files:
        started = time.perf_counter()
        last = engineer.check(path)[-1]
        wall = time.perf_counter() - started
        is_defect = (label, path) in defect_files
        expected = EXPECTED_GATE.get(Path(path).stem, "causality") if is_defect else "pass"
        if label == "zoo:softmax":
            expected = "subquadratic"
        verdict = "pass" if last.passed else last.gate
        if is_defect:
            defects += 1
            caught += verdict == expected
        else:
            false_positives += verdict != expected
            if verdict == "pass":
                honest_times.append(wall)
        kind = "defect" if is_defect else "control"
        table.add_row(label, kind, verdict, expected, f"{wall:.1f}")
    console.print(table)
    console.print(
        f"false positives on zoo and examples: {false_positives}; defects caught by the right gate: "
        f"{caught}/{defects}; full suite on a passing candidate: median {statistics.median(honest_times):.1f} s, "
        f"max {max(honest_times):.1f} s"
    )


if __name__ == "__main__":
    main()
