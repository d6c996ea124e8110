"""Cost gates: a candidate must fit the parameter budget, train at a sane speed and scale sub-quadratically.

All three compare against measurements, not opinions. Parameters are counted against the
reference DeltaNet at the same width. Time is single-thread process CPU time, measured
alternately with DeltaNet's in the same process, so load on the machine barely moves it; speed
is judged at the speed probe's length and at every stage length, where the layer trains.
Scaling fits log-cost against log-length over the longest probe lengths for four costs:
matmul-class FLOPs, elements touched by the forward pass and peak tensor memory (all exact,
counted by a dispatch mode that sees every aten op) and time relative to DeltaNet (medians of
repeats; a failing fit is measured again before it counts). A per-token Python loop is linear,
so it passes the scaling gate; the speed gate is what catches it.

The local growth gate closes what the asymptotic fit cannot see: softmax attention over the first P
positions and linear attention after them is linear at 1024–4096 tokens, prefix-consistent and
has no window edge, yet at the 64–128 tokens the stages train at it is softmax attention. From
the window limit (32 tokens) to the longest stage length, over each doubling, FLOPs and forward
elements may grow at most ``local_growth_excess`` (0.2) as a power of length faster than DeltaNet's,
and from the shortest stage length (at least 64) on at most ``local_shrink_excess`` (0.4) slower: a
window padded to W tokens costs the same at every length below W, so its cost stands still where it
covers the sequence.
Measured at d_model 64: the zoo's linear layers at most +0.08, the examples +0.11, the loader
fixtures +0.00, 60 offline-researcher proposals at most +0.14; attacks: softmax over the first
64 positions +0.24 (FLOPs, 32→64), over 128 +0.33, 256 +0.51, 512 +0.68 (64→128 and on), and a
64-position prefix computed row by row from broadcast products (no matmul) +0.53 (elements). Slower
growth from 64 tokens on: honest layers at most -0.06; windows padded to 128 tokens -0.68, to 512 -0.99.
Limits: a prefix of about 32 tokens or less, like a window of that size, is allowed; a window padded
to 64–127 tokens grows like DeltaNet here and is left to the receptive-field gate.
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
from asiarch.arch.receptive_field import window_limit
from asiarch.arch.verdict import Verdict
from asiarch.arch.zoo import reference
from asiarch.config import GatesConfig
from asiarch.ops.dispatch import CHUNK, GLA_CHUNK

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


def _step_loss(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The forward half of a probe training step: a loss that reaches every output and the auxiliary loss."""
    layer.zero_grad(set_to_none=True)
    y, aux = split_output(layer(x))
    loss = y.square().mean()
    return loss + aux if aux is not None else loss


def _train_step(layer: nn.Module, x: torch.Tensor) -> None:
    _step_loss(layer, x).backward()


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
    """Counts matmul-class FLOPs and elements touched, and tracks peak tensor memory of everything run while active.

    Memory: every new storage an op returns is added until it is freed (a weakref finaliser
    fires when the storage dies). FLOPs: torch's formulas for matmuls, convolutions and attention
    kernels. Elements: the sizes of every tensor each non-view op reads and writes, so elementwise
    and reduction work is counted too: quadratic work done row by row, with no matmul and no
    quadratic tensor alive at once, still touches a quadratic number of elements.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.flops = 0
        self.elements = 0
        self._seen: set[int] = set()

    def _release(self, key: int, size: int) -> None:
        self.live -= size
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self._count_flops(func, args, kwargs, out)
        if not func.is_view:
            touched = tree_flatten((args, kwargs, out))[0]
            self.elements += sum(item.numel() for item in touched if isinstance(item, torch.Tensor))
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


COSTS = ("compute", "elements", "memory")
"""What the sub-quadratic gate counts per training step: matmul-class FLOPs, elements touched by the forward pass,
peak tensor bytes."""
LOCAL_COSTS = ("compute", "elements")
"""Judged by the local growth gate. Peak memory is not: chunk padding moves it between neighbouring lengths, and a
quadratic tensor must first be written, which the element count sees."""


def step_costs(layer: nn.Module, seq_len: int, cfg: GatesConfig) -> dict[str, float]:
    """Each of ``COSTS`` for one forward+backward at (1, seq_len).

    Elements are counted in the forward pass only: the backward of the idiomatic chunk loop ``x[:, :, n]``
    writes a full-size zero gradient per chunk, so honest chunked code would touch a number of elements
    quadratic in the chunk count, while quadratic work done on purpose is done in the forward pass."""
    x = torch.randn(1, seq_len, cfg.d_model, requires_grad=True)
    with StepCostMeter() as meter:
        loss = _step_loss(layer, x)
        forward_elements = meter.elements
        loss.backward()
    return {"compute": float(meter.flops), "elements": float(forward_elements), "memory": float(meter.peak)}


def fitted_exponent(lengths: list[int], costs: list[float]) -> float:
    """Least-squares slope of log(cost) against log(length)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(max(c, 1e-12)) for c in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scaling_lengths(cfg: GatesConfig) -> list[int]:
    """The sub-quadratic probe's lengths, increasing: the scaling lengths, every stage length and the window limit
    (the longest window the receptive-field gate allows). Only the longest ``scaling_fit_points`` scaling lengths
    are fitted for the asymptotic law (overheads dominate short ones); the local growth is judged from the window
    limit up, where the layer trains."""
    return sorted({window_limit(cfg), *cfg.scaling_seq_lens, *cfg.evaluated_seq_lens})


def _fit(lengths: list[int], costs: list[float], cfg: GatesConfig) -> float:
    """The fitted exponent over the longest ``scaling_fit_points`` scaling lengths; 0 for a cost that is 0 at the
    longest (no matmul at all)."""
    fitted = cfg.scaling_seq_lens[-cfg.scaling_fit_points :]
    points = [cost for n, cost in zip(lengths, costs) if n in fitted]
    return fitted_exponent(fitted, points) if points[-1] > 0 else 0.0


def growth_segments(cfg: GatesConfig) -> list[tuple[int, int]]:
    """(a, b) for each probe length a from the window limit up to the longest stage length, b the shortest probe
    length >= 2a: growth is judged over at least a doubling (so a chunked kernel's step from one chunk to two
    reads as what it is), where the stages train."""
    lengths = scaling_lengths(cfg)
    longest_stage = cfg.evaluated_seq_lens[-1]
    return [(a, min(b for b in lengths if b >= 2 * a)) for a in lengths if a <= longest_stage and lengths[-1] >= 2 * a]


def excess_growth(own: dict[int, float], reference_costs: dict[int, float], a: int, b: int) -> float:
    """How much faster than the reference a cost grows from length a to b, as a power of length: 0 for the same
    law, 1 for a layer whose cost is quadratic where the reference's is linear."""
    if min(own[a], own[b], reference_costs[a], reference_costs[b]) <= 0:
        return 0.0
    return math.log((own[b] / reference_costs[b]) / (own[a] / reference_costs[a])) / math.log(b / a)


def _time_exponent(layer: nn.Module, baseline: nn.Module, cfg: GatesConfig) -> tuple[float, list[float]]:
    """1 + the slope of log(time / DeltaNet's time): DeltaNet is linear by construction, so dividing
    by it cancels the machine's load and cache effects that bend both curves alike."""
    lengths = scaling_lengths(cfg)
    pairs = [paired_step_seconds(layer, baseline, n, cfg) for n in lengths]
    return 1.0 + _fit(lengths, [own / theirs for own, theirs in pairs], cfg), [own for own, _ in pairs]


def shrink_start(cfg: GatesConfig) -> int:
    """The shortest length from which cost that stands still counts: the shortest stage length, and never below
    the longest chunk ``asiarch.ops`` pads to (GLA's 64 tokens), where an honest kernel costs one whole chunk."""
    return max(cfg.evaluated_seq_lens[0], max(CHUNK, GLA_CHUNK))


def local_growth_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Where the stages train, a layer's cost grows like DeltaNet's: over every doubling from the window limit to
    the longest stage length, FLOPs and elements touched grow at most ``local_growth_excess`` faster (as a power
    of length), and from ``shrink_start`` on at most ``local_shrink_excess`` slower.

    Softmax attention over the first few hundred positions is linear at 1024–4096 tokens, so the asymptotic law
    passes it, but its cost grows quadratically at the 64–128 tokens the stages train at. A window of W tokens
    computed in blocks padded to W costs the same at every length up to W: its cost stands still where it covers
    the whole sequence. Below the shortest stage length, or 64 tokens, the shrink is not judged: kernels pad
    to chunks of up to 64 tokens."""
    layer.train()
    segments = growth_segments(cfg)
    lengths = sorted({n for segment in segments for n in segment})
    own, theirs = ({n: step_costs(module, n, cfg) for n in lengths} for module in (layer, reference_layer(cfg).train()))
    excesses = [
        (cost, excess_growth({n: own[n][cost] for n in lengths}, {n: theirs[n][cost] for n in lengths}, a, b), a, b)
        for cost in LOCAL_COSTS
        for a, b in segments
    ]
    figures = {f"{cost}_excess_{a}_{b}": value for cost, value, a, b in excesses}
    cost, excess, a, b = max(excesses, key=lambda item: item[1])
    if excess > cfg.local_growth_excess:
        return Verdict(
            "local_growth",
            False,
            f"{cost} grows length^{excess:.2f} faster than the reference DeltaNet's from {a} to {b} tokens "
            f"(bound {cfg.local_growth_excess:g}): quadratic work over the first positions, which at the lengths "
            "the stages train at makes it (close to) full attention; use a recurrence or a chunked kernel "
            "(asiarch.ops) at every position, not only far into the sequence",
            figures,
        )
    shrinking = [item for item in excesses if item[2] >= shrink_start(cfg)] or [("compute", 0.0, 0, 0)]
    cost, shrink, a, b = min(shrinking, key=lambda item: item[1])
    if -shrink > cfg.local_shrink_excess:
        return Verdict(
            "local_growth",
            False,
            f"{cost} grows length^{-shrink:.2f} slower than the reference DeltaNet's from {a} to {b} tokens "
            f"(bound {cfg.local_shrink_excess:g}): work that stands still while the sequence grows, such as a window "
            f"or block padded to {b} tokens or more, which on the stages' sequences is (close to) full attention; "
            f"keep windows under {window_limit(cfg)} tokens and reach further with a recurrence",
            figures,
        )
    return Verdict("local_growth", True, f"within length^{shrink:+.2f}..^{excess:+.2f} of DeltaNet's growth", figures)


def subquadratic_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Fitted exponents of FLOPs, elements touched, peak memory and time over growing lengths stay below the bound.

    The exact counts go first; time, the noisy one, is measured only when they pass."""
    layer.train()
    lengths = scaling_lengths(cfg)
    steps = [step_costs(layer, n, cfg) for n in lengths]
    exponents = {cost: _fit(lengths, [step[cost] for step in steps], cfg) for cost in COSTS}
    per_length = {f"mib_at_{n}": step["memory"] / 2**20 for n, step in zip(lengths, steps)}
    per_length.update({f"mflop_at_{n}": step["compute"] / 1e6 for n, step in zip(lengths, steps)})
    per_length.update({f"melement_at_{n}": step["elements"] / 1e6 for n, step in zip(lengths, steps)})
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


COST_GATES: tuple[Callable[[nn.Module, GatesConfig], Verdict], ...] = (speed_gate, subquadratic_gate, local_growth_gate)
"""Run after the behavioural gates: they are the slowest and assume a layer that already works."""
