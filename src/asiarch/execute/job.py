"""The entry point that runs one training job inside a worker process.

Shared by every executor: the orchestrator never imports candidate code; only this function,
running in a fresh process, loads it. Results travel back as plain dicts.
"""

from __future__ import annotations

import torch

from asiarch.arch.backbone import MixerFactory
from asiarch.arch.loader import load_candidate
from asiarch.arch.zoo import reference
from asiarch.bench.stages import ZOO_PREFIX, TrainingJob
from asiarch.bench.tasks import make_task
from asiarch.bench.trainer import ProgressCallback, train_and_evaluate


def mixer_factory(candidate: str, d_model: int, num_heads: int) -> MixerFactory:
    """A zero-argument constructor of the mixer named by ``candidate`` (``zoo:NAME`` or a file path)."""
    if candidate.startswith(ZOO_PREFIX):
        cls = reference(candidate[len(ZOO_PREFIX) :])
        return lambda: cls(d_model, num_heads)
    spec = load_candidate(candidate)
    return lambda: spec.build(d_model, num_heads)


def run_training_job(job: TrainingJob, threads: int, on_progress: ProgressCallback | None = None) -> dict:
    """Train and score one job with ``threads`` intra-op threads; returns ``RunResult.to_dict()``."""
    torch.set_num_threads(threads)
    factory = mixer_factory(job.candidate, job.run.model.d_model, job.run.model.num_heads)
    task = make_task(job.run.task, job.run.params)
    return train_and_evaluate(factory, task, job.run, job.lr, job.seed, on_progress).to_dict()
