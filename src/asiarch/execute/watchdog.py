"""Stops training runs early from the (step, loss) stream a job reports to the orchestrator.

The gates probe a layer with random inputs; a leak they miss (say, one that only opens on real
token statistics) shows up in training as a loss no honest layer reaches. So does divergence.
The check runs in the orchestrator, on what the job reports, so a candidate cannot switch it off
inside its own process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from asiarch.bench.trainer import RunResult
from asiarch.config import WatchdogConfig


def leak_floor(reference_runs: Sequence[RunResult], cfg: WatchdogConfig) -> float | None:
    """``leak_floor_fraction`` of the best reference's final training loss on a task, if any reference ran."""
    finals = [run.curve[-1][1] for run in reference_runs if run.curve and not run.diverged]
    if not finals or cfg.leak_floor_fraction <= 0:
        return None
    return cfg.leak_floor_fraction * min(finals)


LEAK_STOP = "is below the leak floor"
"""Part of the reason a run stopped for a suspected leak carries (the loop re-checks such a stop past the screen)."""


class LossWatchdog:
    """Follows one run's reported losses; ``observe`` returns why to stop it, or None to go on."""

    def __init__(self, cfg: WatchdogConfig, floor: float | None) -> None:
        self.cfg = cfg
        self.floor = floor
        self.smoothed: float | None = None
        self.first: float | None = None

    def observe(self, step: int, loss: float) -> str | None:
        if not math.isfinite(loss):
            return f"stopped by the watchdog: training loss became {loss} at step {step} (diverged)"
        self.first = loss if self.first is None else self.first
        weight = self.cfg.smoothing if self.smoothed is not None else 0.0
        self.smoothed = weight * (self.smoothed or 0.0) + (1.0 - weight) * loss
        if step < self.cfg.warmup_steps:
            return None
        if self.smoothed > self.cfg.explosion_factor * self.first:
            return (
                f"stopped by the watchdog: smoothed training loss {self.smoothed:.3g} at step {step} is over "
                f"{self.cfg.explosion_factor:g}x its first value {self.first:.3g} (loss explosion)"
            )
        if self.floor is not None and self.smoothed < self.floor:
            return (
                f"stopped by the watchdog: smoothed training loss {self.smoothed:.3g} at step {step} {LEAK_STOP} "
                f"{self.floor:.3g} ({self.cfg.leak_floor_fraction:g}x the best reference's final loss): the "
                "layer probably reads future tokens"
            )
        return None
