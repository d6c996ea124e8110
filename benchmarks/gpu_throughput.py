"""Training throughput of every zoo layer on a GPU: through asiarch.ops (flash-linear-attention kernels) vs the
pure-PyTorch forms, flash-linear-attention's own DeltaNet layer as the yardstick, and one scale-stage job.

Prints, per zoo layer, tokens/s of forward+backward at width 512 (``--width``) with kernels on and off, and
the kernel speed-up; then DeltaNet through asiarch.ops as a share of fla.layers.DeltaNet (target >= 80%);
then the time of ``--scale-steps`` steps of the GPU preset's scale-stage LM job and what the whole scale
stage of one candidate would take at that rate.

    python benchmarks/gpu_throughput.py [--width 512] [--heads 8] [--batch 8] [--length 2048] [--repeats 20]
                                        [--preset configs/gpu.yaml] [--scale-steps 200] [--device cuda]

Needs CUDA and the [gpu] extra for the real figures; ``--device cpu`` runs the same code at any size as a
smoke check (kernels never serve CPU tensors, so both columns are then the PyTorch forms).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from asiarch.arch.zoo import ZOO, reference
from asiarch.bench.stages import TrainingJob
from asiarch.config import load_config
from asiarch.execute.job import run_training_job
from asiarch.ops import kernels

ROOT = Path(__file__).resolve().parents[1]


def tokens_per_second(layer: nn.Module, inputs: torch.Tensor, repeats: int, precision: str) -> float:
    """Forward+backward tokens/s of ``layer`` on ``inputs``, after two warm-up steps (Triton compiles then)."""
    autocast = torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step() -> None:
        with autocast:
            out = layer(inputs)
            out = out[0] if isinstance(out, tuple) else out
        out.float().square().mean().backward()

    for _ in range(2):
        step()
    _synchronise(inputs.device)
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    _synchronise(inputs.device)
    return inputs.shape[0] * inputs.shape[1] * repeats / (time.perf_counter() - started)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fla_deltanet(width: int, heads: int) -> Callable[[], nn.Module] | None:
    """flash-linear-attention's DeltaNet layer, when installed."""
    try:
        from fla.layers import DeltaNet
    except ImportError:
        return None
    return lambda: DeltaNet(hidden_size=width, num_heads=heads)


def layer_table(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    inputs = torch.randn(args.batch, args.length, args.width, device=device, requires_grad=True)
    print(f"kernels: {kernels.status(device).reason}")
    print(f"{'layer':<16} {'ops k tok/s':>12} {'eager k tok/s':>14} {'speed-up':>9}")
    through_ops = {}
    for name in ZOO:
        torch.manual_seed(0)
        layer = reference(name)(args.width, args.heads).to(device)
        kernels.use_kernels(True)
        fast = tokens_per_second(layer, inputs, args.repeats, args.precision)
        kernels.use_kernels(False)
        slow = tokens_per_second(layer, inputs, args.repeats, args.precision)
        kernels.use_kernels(True)
        through_ops[name] = fast
        print(f"{name:<16} {fast / 1e3:>12.1f} {slow / 1e3:>14.1f} {fast / slow:>8.2f}x")
    build = fla_deltanet(args.width, args.heads)
    if build is None:
        print("fla.layers.DeltaNet: flash-linear-attention is not installed (pip install -e '.[gpu]')")
    else:
        own = tokens_per_second(build().to(device), inputs, args.repeats, args.precision)
        share = through_ops["deltanet"] / own
        print(f"fla.layers.DeltaNet {own / 1e3:.1f} k tok/s; zoo DeltaNet through asiarch.ops is {share:.0%} of it "
              "(target >= 80%)")  # fmt: skip
    return through_ops


def scale_job_time(args: argparse.Namespace, device: torch.device) -> None:
    """Time a shortened scale-stage LM job of DeltaNet and extrapolate to one candidate's scale stage."""
    stage = load_config(args.preset).stage("scale")
    label, run = next(iter(stage.tasks.items()))
    train = run.train.model_copy(update={"steps": args.scale_steps, "device": device.type})
    short = run.model_copy(update={"train": train})
    result = run_training_job(TrainingJob("zoo:deltanet", label, short, run.train.lrs[0], 0), threads=4)
    per_step = result["wall_s"] / args.scale_steps
    steps = sum(task.train.steps * len(task.train.lrs) for task in stage.tasks.values())
    tokens = short.train.batch_size * short.params.get("seq_len", 0) * args.scale_steps
    print(f"scale stage ({label}, {short.model.n_layers} layers x {short.model.d_model}): {args.scale_steps} steps in "
          f"{result['wall_s']:.1f} s = {tokens / result['wall_s'] / 1e3:.1f} k tok/s; one candidate's scale stage "
          f"({stage.seeds} seeds, {steps} steps per seed at this rate) ≈ {per_step * steps * stage.seeds / 3600:.1f} "
          "GPU-hours (the LM job's rate, one test evaluation included, for every task)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--preset", type=Path, default=ROOT / "configs" / "gpu.yaml")
    parser.add_argument("--scale-steps", type=int, default=200)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run on a GPU machine, or pass --device cpu for a smoke check")
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    layer_table(args, device)
    scale_job_time(args, device)


if __name__ == "__main__":
    main()
