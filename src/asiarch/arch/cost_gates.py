"""Cost gates: a candidate must fit the parameter budget, train at a sane speed and scale sub-quadratically.

All three compare against measurements, not opinions. Parameters are counted against the
reference DeltaNet at the same width. Time is single-thread process CPU time, measured
alternately with DeltaNet's in the same process, so load on the machine barely moves it; speed
is judged at the speed probe's length and at every stage length, where the layer trains.
Scaling fits log-cost against log-length over the longest probe lengths for three costs:
matmul-class FLOPs and peak tensor memory (both exact, counted by a dispatch mode that sees
every aten op) and time relative to DeltaNet (medians of repeats; a failing fit is measured
again before it counts); the stage lengths are measured too and reported, not fitted. A
per-token Python loop is linear, so it passes the scaling gate; the speed gate is what catches it.
"""

from __future__ import annotations

import math
import statistics
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count

from asiarch.arch.contract import split_output
from asiarch.arch.verdict import Verdict
from asiarch.arch.zoo import reference
from asiarch.config import GatesConfig

BUDGET_REFERENCE = "deltanet"


def parameter_count(layer: nn.Module) -> int:
    return sum(p.numel() for p in layer.parameters())


def reference_layer(cfg: GatesConfig) -> nn.Module:
    """The reference DeltaNet at the gates' width, built from a fixed seed."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return reference(BUDGET_REFERENCE)(cfg.d_model, cfg.num_heads)


def parameter_budget_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Within ±tolerance of the reference DeltaNet's parameter count at the same width."""
    count, budget = parameter_count(layer), parameter_count(reference_layer(cfg))
    excess = count / budget - 1.0
    figures = {"parameters": float(count), "reference_parameters": float(budget), "relative_excess": excess}
    if abs(excess) > cfg.parameter_tolerance:
        direction = "more" if excess > 0 else "fewer"
        fix = "shrink or share projections" if excess > 0 else "widen projections"
        return Verdict(
            "parameter_budget",
            False,
            f"{count:,} parameters is {abs(excess):.0%} {direction} than the reference DeltaNet's {budget:,} at "
            f"d_model={cfg.d_model} (budget ±{cfg.parameter_tolerance:.0%}): {fix}, or widen the budget with "
            "--set gates.parameter_tolerance=…",
            figures,
        )
    return Verdict("parameter_budget", True, f"{count:,} parameters ({excess:+.1%} against DeltaNet)", figures)


def _train_step(layer: nn.Module, x: torch.Tensor) -> None:
    layer.zero_grad(set_to_none=True)
    y, aux = split_output(layer(x))
    loss = y.square().mean()
    if aux is not None:
        loss = loss + aux
    loss.backward()


@contextmanager
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def paired_step_seconds(layer: nn.Module, baseline: nn.Module, seq_len: int, cfg: GatesConfig) -> tuple[float, float]:
    """Median CPU time of one forward+backward of ``layer`` and of ``baseline`` at (1, seq_len).

    Single-threaded CPU time, measured alternately after a warm-up step each: other load on the
    machine barely moves it (measured: DeltaNet against itself stays within ±5% while two training
    jobs share the two cores, where wall time swings 0.3–2x). The calling thread's clock, not the
    process's: with torch on one thread (forward and CPU backward run there) they agree, but under
    the sandbox's RLIMIT_CPU Linux advances the process clock only every few milliseconds, which
    read a cheap layer's steps as 0 ms and then 4 ms and failed it as quadratic."""
    x = torch.randn(1, seq_len, cfg.d_model, requires_grad=True)
    times: tuple[list[float], list[float]] = ([], [])
    with _one_thread():
        for _ in range(cfg.timing_repeats + 1):
            for module, record in zip((layer, baseline), times):
                start = time.thread_time()
                _train_step(module, x)
                record.append(time.thread_time() - start)
            if times[0][-1] > cfg.probe_step_limit_s:
                break
    own, theirs = (statistics.median(record[1:] or record) for record in times)
    return own, theirs


def speed_lengths(cfg: GatesConfig) -> list[int]:
    """The speed probe's length and every stage length, increasing: a layer must train at a sane speed where it is
    timed and where it is trained."""
    return sorted({cfg.speed_seq_len, *cfg.evaluated_seq_lens})


def speed_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """A training step no slower than ``speed_multiple`` times the reference DeltaNet's, at the speed probe's length
    and at every stage length; the slowest ratio is judged."""
    layer.train()
    baseline = reference_layer(cfg).train()
    slowdowns, own_seconds = {}, {}
    for n in speed_lengths(cfg):
        own, theirs = paired_step_seconds(layer, baseline, n, cfg)
        slowdowns[n], own_seconds[n] = own / theirs, own
    worst = max(slowdowns, key=slowdowns.__getitem__)
    figures = {f"slowdown_at_{n}": ratio for n, ratio in slowdowns.items()}
    if slowdowns[worst] > cfg.speed_multiple:
        return Verdict(
            "speed",
            False,
            f"a forward+backward step at length {worst} takes {own_seconds[worst] * 1e3:.1f} ms, "
            f"{slowdowns[worst]:.1f}x the reference DeltaNet (limit {cfg.speed_multiple:g}x): replace per-token "
            "Python loops with chunked or parallel tensor operations (asiarch.ops)",
            figures,
        )
    return Verdict("speed", True, f"at most {slowdowns[worst]:.1f}x the reference DeltaNet's step time", figures)


def _sdpa_cpu_flops(query, key, value, *args, **kwargs) -> int:  # noqa: ANN001 - aten's signature
    return sdpa_flop_count(query.shape, key.shape, value.shape)


def _sdpa_cpu_backward_flops(grad_out, query, key, value, *args, **kwargs) -> int:  # noqa: ANN001
    return sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)


_CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default: _sdpa_cpu_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default: _sdpa_cpu_backward_flops,
}
"""torch's FLOP registry knows the GPU attention kernels only; these are the CPU ones."""


class StepCostMeter(TorchDispatchMode):
    """Counts matmul-class FLOPs and tracks peak tensor memory of everything run while active.

    Memory: every new storage an op returns is added until it is freed (a weakref finaliser
    fires when the storage dies). FLOPs: torch's formulas for matmuls, convolutions and attention
    kernels; elementwise work is not counted, but a quadratic elementwise cost needs a quadratic
    tensor, which the memory count sees.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.flops = 0
        self._seen: set[int] = set()

    def _release(self, key: int, size: int) -> None:
        self.live -= size
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self._count_flops(func, args, kwargs, out)
        for item in tree_flatten(out)[0]:
            if not isinstance(item, torch.Tensor):
                continue
            storage = item.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self._seen:
                continue
            self._seen.add(key)
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key, size)
        return out

    def _count_flops(self, func, args, kwargs, out) -> None:  # noqa: ANN001
        if func in _CPU_ATTENTION_FLOPS:
            self.flops += _CPU_ATTENTION_FLOPS[func](*args, **kwargs)
        elif func.overloadpacket in flop_registry:
            self.flops += flop_registry[func.overloadpacket](*args, **kwargs, out_val=out)


def step_costs(layer: nn.Module, seq_len: int, cfg: GatesConfig) -> tuple[float, float]:
    """(peak tensor bytes, FLOPs) of one forward+backward at (1, seq_len)."""
    x = torch.randn(1, seq_len, cfg.d_model, requires_grad=True)
    with StepCostMeter() as meter:
        _train_step(layer, x)
    return float(meter.peak), float(meter.flops)


def fitted_exponent(lengths: list[int], costs: list[float]) -> float:
    """Least-squares slope of log(cost) against log(length)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(max(c, 1e-12)) for c in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scaling_lengths(cfg: GatesConfig) -> list[int]:
    """The sub-quadratic probe's lengths: the scaling lengths plus every stage length, increasing. Only the longest
    ``scaling_fit_points`` scaling lengths are fitted (overheads dominate short ones); the figures at the stage
    lengths show what the layer costs where it trains."""
    return sorted({*cfg.scaling_seq_lens, *cfg.evaluated_seq_lens})


def _fit(lengths: list[int], costs: list[float], cfg: GatesConfig) -> float:
    """The fitted exponent over the longest ``scaling_fit_points`` scaling lengths; 0 for a cost that is 0 at the
    longest (no matmul at all)."""
    fitted = cfg.scaling_seq_lens[-cfg.scaling_fit_points :]
    points = [cost for n, cost in zip(lengths, costs) if n in fitted]
    return fitted_exponent(fitted, points) if points[-1] > 0 else 0.0


def _time_exponent(layer: nn.Module, baseline: nn.Module, cfg: GatesConfig) -> tuple[float, list[float]]:
    """1 + the slope of log(time / DeltaNet's time): DeltaNet is linear by construction, so dividing
    by it cancels the machine's load and cache effects that bend both curves alike."""
    lengths = scaling_lengths(cfg)
    pairs = [paired_step_seconds(layer, baseline, n, cfg) for n in lengths]
    return 1.0 + _fit(lengths, [own / theirs for own, theirs in pairs], cfg), [own for own, _ in pairs]


def subquadratic_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Fitted exponents of FLOPs, peak memory and time over growing lengths stay below the bound.

    The exact counts go first; time, the noisy one, is measured only when they pass."""
    layer.train()
    lengths = scaling_lengths(cfg)
    memory, flops = zip(*(step_costs(layer, n, cfg) for n in lengths))
    exponents = {
        "compute": _fit(lengths, list(flops), cfg),
        "memory": _fit(lengths, list(memory), cfg),
    }
    per_length = {f"mib_at_{n}": m / 2**20 for n, m in zip(lengths, memory)}
    per_length.update({f"mflop_at_{n}": f / 1e6 for n, f in zip(lengths, flops)})
    if max(exponents.values()) <= cfg.scaling_exponent_bound:
        baseline = reference_layer(cfg).train()
        time_exponent, times = _time_exponent(layer, baseline, cfg)
        if time_exponent > cfg.scaling_exponent_bound:
            time_exponent, times = min((time_exponent, times), _time_exponent(layer, baseline, cfg))
        exponents["time"] = time_exponent
        per_length.update({f"ms_at_{n}": t * 1e3 for n, t in zip(lengths, times)})
    figures = {f"{cost}_exponent": value for cost, value in exponents.items()} | per_length
    fitted = cfg.scaling_seq_lens[-cfg.scaling_fit_points :]
    for cost, exponent in exponents.items():
        if exponent > cfg.scaling_exponent_bound:
            return Verdict(
                "subquadratic",
                False,
                f"{cost} grows as length^{exponent:.2f} from {fitted[0]} to {fitted[-1]} tokens (bound "
                f"{cfg.scaling_exponent_bound:g}): the layer is quadratic; replace full attention with a recurrence, "
                "chunked kernel or bounded window",
                figures,
            )
    summary = ", ".join(f"{cost} ~ length^{value:.2f}" for cost, value in exponents.items())
    return Verdict("subquadratic", True, summary, figures)


COST_GATES: tuple[Callable[[nn.Module, GatesConfig], Verdict], ...] = (speed_gate, subquadratic_gate)
"""Run after the behavioural gates: they are the slowest and assume a layer that already works."""
