"""A cheaper confirm stage for the benchmarks that run it for real on two cores.

The default confirm stage (5 tasks, 6 seeds, every rival) costs hours on a laptop; a benchmark shortens every
task's training by a factor and, where asked, uses fewer seeds, and prints what it used. Nothing else changes:
the same tasks, lrs, seed base and held-out data.
"""

from __future__ import annotations

from typing import Any

MIN_STEPS = 20


def shorten_confirm(
    tree: dict[str, Any], steps_scale: float, seeds: int | None = None, reference_seeds: int | None = None
) -> dict[str, Any]:
    """The config tree (``Config.model_dump(mode="json")``) with confirm's steps scaled and, if given, its seeds
    cut to ``seeds`` (tested in one look) and the references' to ``reference_seeds`` (default: ``seeds``)."""
    confirm = tree["stages"]["confirm"]
    for run in confirm["tasks"].values():
        run["train"]["steps"] = max(MIN_STEPS, round(run["train"]["steps"] * steps_scale))
    if seeds is not None:
        confirm.update(seeds=seeds, reference_seeds=reference_seeds or seeds, looks=[seeds], alpha_shares=[1.0],
                       lr_search_seeds=min(confirm["lr_search_seeds"], seeds))  # fmt: skip
    return tree
