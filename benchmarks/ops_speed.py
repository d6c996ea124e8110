"""Forward+backward time of each op, chunked vs recurrent, at the sizes the CPU screen trains at.

Why single thread: the screen stage runs two single-thread training processes side by side, so that is
the speed that decides how many experiments fit in a CPU budget.

Usage: python benchmarks/ops_speed.py [--repeats N] [--batch B] [--heads H] [--dim D] [--lengths 64 128]
                                      [--chunk-size C]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from asiarch import ops

OpCall = Callable[..., torch.Tensor]


def make_inputs(batch: int, heads: int, length: int, dim: int) -> dict[str, torch.Tensor]:
    """Realistically preprocessed inputs: unit keys, sigmoid betas, logsigmoid gates."""
    shape = (batch, heads, length, dim)
    return {
        "q": torch.randn(shape) * dim**-0.5,
        "k": F.normalize(torch.randn(shape), dim=-1),
        "v": torch.randn(shape),
        "beta": torch.rand(shape[:3]),
        "log_decay": F.logsigmoid(torch.randn(shape[:3]) + 3),
        "log_gate": F.logsigmoid(torch.randn(shape) + 3),
    }


OPS: dict[str, OpCall] = {
    "linear_attention": lambda x, **kw: ops.linear_attention(x["q"], x["k"], x["v"], **kw),
    "scalar_decay_attention": lambda x, **kw: ops.scalar_decay_attention(x["q"], x["k"], x["v"], x["log_decay"], **kw),
    "gated_linear_attention": lambda x, **kw: ops.gated_linear_attention(x["q"], x["k"], x["v"], x["log_gate"], **kw),
    "delta_rule": lambda x, **kw: ops.delta_rule(x["q"], x["k"], x["v"], x["beta"], **kw),
    "gated_delta_rule": lambda x, **kw: ops.gated_delta_rule(x["q"], x["k"], x["v"], x["beta"], x["log_decay"], **kw),
}


def time_forward_backward(call: Callable[[], torch.Tensor], repeats: int) -> float:
    """Best-of-`repeats` CPU milliseconds per forward+backward, after one warm-up call.

    CPU time of this process, not wall time, so other jobs sharing the machine inflate it less.
    """
    timings = []
    for _ in range(repeats + 1):
        start = time.process_time()
        call().square().mean().backward()
        timings.append(time.process_time() - start)
    return 1000 * min(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--chunk-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    print(
        f"ms per forward+backward, B={args.batch} H={args.heads} Dk=Dv={args.dim}, "
        f"chunk_size={args.chunk_size}, 1 thread, float32, best of {args.repeats}"
    )
    print(f"{'op':<24}{'T':>6}{'chunk':>10}{'recurrent':>12}{'speed-up':>10}")
    for length in args.lengths:
        inputs = make_inputs(args.batch, args.heads, length, args.dim)
        for tensor in inputs.values():
            tensor.requires_grad_(True)
        for name, op in OPS.items():
            chunk = time_forward_backward(lambda: op(inputs, mode="chunk", chunk_size=args.chunk_size), args.repeats)
            recurrent = time_forward_backward(lambda: op(inputs, mode="recurrent"), args.repeats)
            print(f"{name:<24}{length:>6}{chunk:>10.1f}{recurrent:>12.1f}{recurrent / chunk:>9.1f}x")


if __name__ == "__main__":
    main()
