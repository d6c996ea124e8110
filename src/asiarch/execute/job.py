"""The entry point that runs one training job inside a worker process.

Shared by every executor: the orchestrator never imports candidate code; only this function,
running in a fresh process, loads it. Results travel back as plain dicts.
"""

from __future__ import annotations

import copy

import torch

from asiarch.arch.backbone import LanguageModel, MixerFactory
from asiarch.arch.gates import trained_layer_failure
from asiarch.arch.loader import load_candidate
from asiarch.arch.zoo import reference
from asiarch.bench.stages import ZOO_PREFIX, TrainingJob
from asiarch.bench.tasks import make_task
from asiarch.bench.trainer import ProgressCallback, TrainedCheck, train_and_evaluate
from asiarch.config import GatesConfig, ModelConfig


class TrainedLayerRefused(RuntimeError):
    """A trained layer failed a gate its initialised self passed: the run's results are not reported."""


def mixer_factory(candidate: str, d_model: int, num_heads: int) -> MixerFactory:
    """A zero-argument constructor of the mixer named by ``candidate`` (``zoo:NAME`` or a file path)."""
    if candidate.startswith(ZOO_PREFIX):
        cls = reference(candidate[len(ZOO_PREFIX) :])
        return lambda: cls(d_model, num_heads)
    spec = load_candidate(candidate)
    return lambda: spec.build(d_model, num_heads)


def trained_layers_check(recheck: GatesConfig, model: ModelConfig) -> TrainedCheck:
    """Checks every mixer of a trained model with the trained-layer gates at the model's width, on the CPU in
    float32, and raises ``TrainedLayerRefused`` naming the first failure."""
    cfg = recheck.model_copy(update={"d_model": model.d_model, "num_heads": model.num_heads})

    def check(trained: LanguageModel) -> None:
        for index, block in enumerate(trained.blocks):
            mixer = getattr(block.mixer, "_orig_mod", block.mixer)  # the layer itself, not a torch.compile wrapper
            failed = trained_layer_failure(copy.deepcopy(mixer).cpu().float().eval(), cfg)
            if failed is not None:
                raise TrainedLayerRefused(
                    f"after training, the mixer of block {index} fails the {failed.gate} gate that it passed "
                    f"before: {failed.reason}"
                )

    return check


def run_training_job(job: TrainingJob, threads: int, on_progress: ProgressCallback | None = None) -> dict:
    """Train and score one job with ``threads`` intra-op threads; returns ``RunResult.to_dict()``."""
    torch.set_num_threads(threads)
    factory = mixer_factory(job.candidate, job.run.model.d_model, job.run.model.num_heads)
    task = make_task(job.run.task, job.run.params)
    check = None if job.recheck is None else trained_layers_check(job.recheck, job.run.model)
    return train_and_evaluate(factory, task, job.run, job.lr, job.seed, on_progress, check).to_dict()
