"""Budgeted training of one mixer on one task at one learning rate and seed.

Deliberately plain: AdamW, linear warm-up then cosine decay, gradient clipping, weight decay on
matrices only, loss (and logits) only at supervised positions. Everything that varies between
runs comes from the config, the seed and the mixer; two runs with the same inputs give the same
numbers on the same machine (single-threaded CPU kernels are deterministic).

On a GPU (``train.device``) the same loop runs with the model and batches on CUDA, optionally under
bfloat16 autocast (``train.precision``) and with every mixer compiled (``train.compile``); the
asiarch.ops calls inside the mixers then use flash-linear-attention's kernels (``train.kernels``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch.nn import functional as F

from asiarch.arch.backbone import LanguageModel, MixerFactory
from asiarch.bench import metrics
from asiarch.bench.tasks.base import Batch, Task
from asiarch.config import OptimConfig, TaskRunConfig
from asiarch.ops import kernels

ProgressCallback = Callable[[int, float], None]
TrainedCheck = Callable[[LanguageModel], None]
"""Inspects a trained model and raises when its results must not be reported."""


@dataclass
class RunResult:
    """What one training run measured; plain data so it crosses process boundaries as a dict."""

    task: str
    seed: int
    lr: float
    metric: str
    splits: dict[str, float]
    value: float
    curve: list[tuple[int, float]]
    steps_done: int
    diverged: bool
    wall_s: float
    cpu_s: float
    parameters: int
    mixer_parameters: int
    gpu_s: float = 0.0
    """Wall seconds with a GPU held (the whole run, when it trained on CUDA)."""
    validation: dict[str, float] = field(default_factory=dict)
    """The task's metric on its validation splits: what learning rates and promotions are chosen on."""
    validation_value: float | None = None
    """Mean over the validation splits; None for results stored before validation splits existed."""

    @property
    def selection_value(self) -> float:
        """The number a choice about this run is made on: validation, or the test value of an old result that has
        none (such a result was chosen on test, as every result was then)."""
        return self.value if self.validation_value is None else self.validation_value

    def to_dict(self) -> dict:
        return asdict(self)


def training_device(wanted: str) -> torch.device:
    """The device a run trains on: ``cuda`` must exist (a clear error otherwise), ``auto`` takes it if it does."""
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(
            "train.device is cuda but this job's process sees no CUDA device; run it on a GPU node "
            "(execution.ray.num_gpus: 1) or set train.device to auto or cpu"
        )
    return torch.device("cuda")


def lr_at(step: int, steps: int, peak: float, optim: OptimConfig) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``min_lr_frac * peak``."""
    warmup = max(1, int(optim.warmup_frac * steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    floor = optim.min_lr_frac * peak
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, lr: float, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW that decays matrices (projections, embeddings) but not gains, biases or decay rates."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": optim.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(optim.beta1, optim.beta2))


def _check_seed(seed: int) -> None:
    """A layer that reseeds torch's global generator chooses its own initialisation (and could make every seed of
    a comparison the same run, faking a tight spread): the run fails instead."""
    if torch.initial_seed() != seed:
        raise RuntimeError(
            f"the layer reseeded torch's global random generator (seed {torch.initial_seed()}, the run's is {seed}); "
            "candidates may not set seeds: each run's seed is the harness's"
        )


def _curve(losses: list[float], points: int) -> list[tuple[int, float]]:
    """Down-sample the per-step losses to about ``points`` window means, keyed by their last step."""
    window = max(1, len(losses) // points)
    return [
        (min(start + window, len(losses)), sum(losses[start : start + window]) / len(losses[start : start + window]))
        for start in range(0, len(losses), window)
    ]


def batch_loss(model: LanguageModel, batch: Batch, autocast: torch.autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy at the supervised positions, and the loss that is optimised (plus the mixers' aux loss)."""
    with autocast:
        logits, targets, aux = metrics.supervised_logits(model, batch)
        cross_entropy = F.cross_entropy(logits.float(), targets)
        return cross_entropy, cross_entropy + aux


def seconds_per_step(mixer_factory: MixerFactory, task: Task, run: TaskRunConfig, steps: int) -> float:
    """Wall seconds of one CPU training step of this task run, timed over ``steps`` steps after a warm-up step:
    what a long wait's estimate is built on. Runs in the calling process, so only for trusted (zoo) mixers."""
    torch.manual_seed(0)
    model = LanguageModel(task.vocab_size, run.model.d_model, run.model.n_layers, run.model.mlp_ratio, mixer_factory)
    optimizer = make_optimizer(model, min(run.train.lrs), run.optim)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.train.precision == "bf16")
    generator = torch.Generator().manual_seed(0)
    start = 0.0
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        _, loss = batch_loss(model, task.train_batch(run.train.batch_size, generator), autocast)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def train_and_evaluate(
    mixer_factory: MixerFactory,
    task: Task,
    run: TaskRunConfig,
    lr: float,
    seed: int,
    on_progress: ProgressCallback | None = None,
    check_trained: TrainedCheck | None = None,
) -> RunResult:
    """Train a fresh model built around ``mixer_factory`` and score it on the task's test splits; a model that
    trained without diverging then goes through ``check_trained`` (its probes draw from a forked generator)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    device = training_device(run.train.device)
    kernels.use_kernels(run.train.kernels)
    torch.manual_seed(seed)
    model = LanguageModel(task.vocab_size, run.model.d_model, run.model.n_layers, run.model.mlp_ratio, mixer_factory)
    _check_seed(seed)
    model.to(device)
    if run.train.compile:
        import torch._inductor.config as inductor

        inductor.compile_threads = 1  # a pool of compile workers is more processes than the sandbox admits
        inductor.cpp.vec_isa_ok = False  # its CPU probe loads a test library in a Python subprocess: not admitted
        inductor.cpp_cache_precompile_headers = False  # hundreds of MB, past the sandbox's file-size limit
        for block in model.blocks:
            block.mixer = torch.compile(block.mixer)
    optimizer = make_optimizer(model, lr, run.optim)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.train.precision == "bf16")
    generator = torch.Generator().manual_seed(seed)
    steps = run.train.steps
    losses: list[float] = []
    diverged = False
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr, run.optim)
        cross_entropy, loss = batch_loss(model, task.train_batch(run.train.batch_size, generator).to(device), autocast)
        value = float(cross_entropy.detach())  # reported and watched: an auxiliary loss cannot hide a leak
        if not (math.isfinite(value) and math.isfinite(float(loss.detach()))) or value > run.train.divergence_loss:
            diverged = True
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), run.optim.grad_clip)
        optimizer.step()
        losses.append(value)
        if on_progress is not None:
            on_progress(step + 1, value)
    _check_seed(seed)
    if diverged:
        splits = {name: metrics.worst_value(task.metric) for name in task.test_splits()}
        validation = {name: metrics.worst_value(task.metric) for name in task.validation_splits()}
    else:
        with autocast:
            splits = metrics.score_task(model, task.test_splits(), task.metric, run.train.eval_batch_size)
            validation = metrics.score_task(model, task.validation_splits(), task.metric, run.train.eval_batch_size)
        _check_seed(seed)
        if check_trained is not None:
            with torch.random.fork_rng(devices=[]):
                check_trained(model)
    return RunResult(
        task=task.name,
        seed=seed,
        lr=lr,
        metric=task.metric,
        splits=splits,
        value=metrics.primary(splits),
        curve=_curve(losses, run.train.curve_points),
        steps_done=len(losses),
        diverged=diverged,
        wall_s=time.perf_counter() - wall0,
        cpu_s=time.process_time() - cpu0,
        gpu_s=time.perf_counter() - wall0 if device.type == "cuda" else 0.0,
        parameters=sum(p.numel() for p in model.parameters()),
        mixer_parameters=sum(p.numel() for block in model.blocks for p in block.mixer.parameters()),
        validation=validation,
        validation_value=metrics.primary(validation),
    )
