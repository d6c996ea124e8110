"""Behavioural gates: executable tests a built layer must pass before it may train.

Each gate probes the layer with real tensors and returns a ``Verdict`` whose reason is one line
a person or an LLM can act on. These run inside the sandboxed worker that loaded the candidate,
never in the orchestrator. A leaky layer (one that sees future tokens) would look like a
breakthrough — its loss drops — so causality is probed at many cut points, including the edges
of every chunk size a chunked kernel is likely to use. The gates probe lengths the stages never
train at (up to 4096 tokens by default) and the stages train at lengths the cost gates hardly see
(64, 128), so two gates tie them together: prefix consistency (a layer computes the same function
at every length) and the receptive field (no attention window that covers the evaluated
sequences, in ``asiarch.arch.receptive_field``).
"""

from __future__ import annotations

import traceback

import torch
from torch import nn

from asiarch.arch.backbone import MixerFactory
from asiarch.arch.contract import split_output
from asiarch.arch.cost_gates import COST_GATES, local_growth_gate, parameter_budget_gate
from asiarch.arch.receptive_field import receptive_field_gate, trained_receptive_field_gate
from asiarch.arch.verdict import Verdict
from asiarch.config import GatesConfig

TRACEBACK_FRAMES, TRACEBACK_CHARS = 4, 2000
OUT_OF_MEMORY = "can't allocate memory"
"""How torch's CPU allocator reports a failed allocation (e.g. under the sandbox's address-space limit)."""


def _forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return split_output(layer(x))[0]


def _relative_change(reference: torch.Tensor, other: torch.Tensor) -> float:
    scale = reference.abs().max().clamp_min(1e-6)
    return float((reference - other).abs().max() / scale)


def shape_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """The output has the input's shape and any auxiliary loss is a scalar."""
    x = torch.randn(2, cfg.batch_seq_len, cfg.d_model)
    y = _forward(layer, x)
    if y.shape != x.shape:
        return Verdict(
            "shape", False, f"output shape {tuple(y.shape)} differs from input shape {tuple(x.shape)}; return (B, T, D)"
        )
    return Verdict("shape", True, "output shape matches input")


def finite_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Forward output, input gradient and every parameter gradient are finite."""
    layer.zero_grad(set_to_none=True)
    x = torch.randn(2, cfg.batch_seq_len, cfg.d_model, requires_grad=True)
    y = _forward(layer, x)
    if not torch.isfinite(y).all():
        return Verdict("finite", False, "forward output contains NaN or Inf on a random input")
    y.square().mean().backward()
    if x.grad is None or not torch.isfinite(x.grad).all():
        return Verdict("finite", False, "gradient with respect to the input is missing, NaN or Inf")
    bad = [name for name, p in layer.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    if bad:
        return Verdict("finite", False, f"gradient of parameter {bad[0]} contains NaN or Inf")
    layer.zero_grad(set_to_none=True)
    return Verdict("finite", True, "forward and backward are finite")


def cut_points(seq_len: int, chunk_sizes: list[int]) -> list[int]:
    """Positions t after which inputs are changed: sequence edges and both sides of every chunk edge."""
    points = {0, 1, seq_len // 2, seq_len - 2}
    for chunk in chunk_sizes:
        points.update(edge for edge in (chunk - 1, chunk, chunk + 1) if 0 <= edge < seq_len - 1)
    return sorted(points)


@torch.no_grad()
def causality_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Changing inputs after t must not move outputs at or before t, for many t."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg.causal_seq_len, cfg.d_model, generator=generator)
    y = _forward(layer, x)
    worst, worst_t = 0.0, -1
    points = cut_points(cfg.causal_seq_len, cfg.chunk_sizes)
    for t in points:
        changed = x.clone()
        changed[:, t + 1 :] = torch.randn(changed[:, t + 1 :].shape, generator=generator)
        moved = _relative_change(y[:, : t + 1], _forward(layer, changed)[:, : t + 1])
        if moved > worst:
            worst, worst_t = moved, t
    figures = {"max_relative_change": worst, "cut_points": float(len(points))}
    if worst > cfg.tolerance:
        return Verdict(
            "causality",
            False,
            f"output at or before position {worst_t} changed by {worst:.2e} (relative) when only later tokens "
            "changed: the layer sees the future; mask or chunk so position t reads only positions <= t",
            figures,
        )
    return Verdict("causality", True, "no output moved when later tokens changed", figures)


PREFIX_EXTRA_LENGTHS = (1, 2, 3, 17, 65, 100)
"""Prefix lengths probed besides every stage and gate length: shorter than the short convolutions and
the chunks, one past a chunk edge (a kernel that pads to a multiple of its chunk), and lengths that are
no multiple of any power-of-two chunk."""


def prefix_lengths(cfg: GatesConfig) -> list[int]:
    """Every length a stage trains at or a gate probes, plus ``PREFIX_EXTRA_LENGTHS``, increasing.

    The scaling lengths are in: a layer that was softmax attention up to 2048 tokens and linear beyond
    would otherwise look like one layer at every length from 1 to the speed probe's 1024."""
    gate_lengths = {cfg.causal_seq_len, cfg.batch_seq_len, cfg.speed_seq_len, *cfg.scaling_seq_lens}
    return sorted({*cfg.evaluated_seq_lens, *gate_lengths, *PREFIX_EXTRA_LENGTHS})


@torch.no_grad()
def prefix_consistency_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """The output on the first L tokens is the same whether or not more tokens follow.

    True of every causal layer (pad-and-chunk kernels included: the padding comes after the real
    tokens), and the one property that ties the gates' long probes to the short sequences the stages
    train at: a layer that switched mechanism by input length (softmax attention below some length,
    linear attention above) is causal and sub-quadratic at every length the cost gates time, and still
    trains as softmax attention. One forward pass at the longest length, then one per shorter length."""
    *shorter, longest = prefix_lengths(cfg)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, longest, cfg.d_model, generator=generator)
    y = _forward(layer, x)
    worst, worst_length = 0.0, 0
    for length in shorter:
        moved = _relative_change(y[:, :length], _forward(layer, x[:, :length].contiguous()))
        if moved > worst:
            worst, worst_length = moved, length
    figures = {"max_relative_change": worst, "longest": float(longest), "lengths": float(len(shorter))}
    if worst > cfg.prefix_tolerance:
        return Verdict(
            "prefix_consistency",
            False,
            f"on the first {worst_length} tokens of a {longest}-token input its output differs by {worst:.2e} "
            f"(relative) from its output on those {worst_length} tokens alone: its output depends on how long the "
            "input is; a layer may not behave differently at the evaluated lengths "
            f"({', '.join(map(str, cfg.evaluated_seq_lens))}) than at the lengths the gates probe (up to {longest}); "
            "compute every length with the same operations",
            figures,
        )
    return Verdict(
        "prefix_consistency", True, f"outputs on {len(shorter)} prefixes match the {longest}-token run", figures
    )


@torch.no_grad()
def repeatability_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Two calls on the same input give the same output: no hidden state carried across calls."""
    x = torch.randn(2, cfg.batch_seq_len, cfg.d_model)
    moved = _relative_change(_forward(layer, x), _forward(layer, x))
    if moved > cfg.tolerance:
        return Verdict(
            "repeatability",
            False,
            f"calling the layer twice on the same input changed its output by {moved:.2e} (relative): "
            "do not keep state between calls",
            {"relative_change": moved},
        )
    return Verdict("repeatability", True, "same input, same output", {"relative_change": moved})


@torch.no_grad()
def batch_independence_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """Each sample run alone equals its row in the batch: no statistics across the batch."""
    x = torch.randn(cfg.batch_size, cfg.batch_seq_len, cfg.d_model)
    batched = _forward(layer, x)
    worst = max(_relative_change(batched[i : i + 1], _forward(layer, x[i : i + 1])) for i in range(cfg.batch_size))
    if worst > cfg.tolerance:
        return Verdict(
            "batch_independence",
            False,
            f"a sample's output changed by {worst:.2e} (relative) depending on the rest of its batch: "
            "do not mix information across the batch dimension",
            {"max_relative_change": worst},
        )
    return Verdict("batch_independence", True, "samples do not mix", {"max_relative_change": worst})


BEHAVIOURAL_GATES = (
    shape_gate,
    finite_gate,
    repeatability_gate,
    causality_gate,
    prefix_consistency_gate,
    batch_independence_gate,
    receptive_field_gate,
)


def run_layer_gates(factory: MixerFactory, cfg: GatesConfig) -> list[Verdict]:
    """Instantiate the layer and run the behavioural, then the cost gates, stopping at the first failure.

    A leak is named before a budget overrun; speed runs before the scaling probe so that a per-token
    loop is caught at one length instead of being timed at every length up to the longest."""

    torch.manual_seed(0)
    try:
        layer = factory()
    except Exception as exc:  # noqa: BLE001 - a failing constructor is a verdict, not a crash
        return [_raised_verdict("instantiate", exc)]
    layer.eval()
    verdicts = [Verdict("instantiate", True, f"built at d_model={cfg.d_model}, num_heads={cfg.num_heads}")]
    for gate in (*BEHAVIOURAL_GATES, parameter_budget_gate, *COST_GATES):
        try:
            verdict = gate(layer, cfg)
        except Exception as exc:  # noqa: BLE001 - an exception inside the layer fails the gate that hit it
            verdict = _raised_verdict(gate.__name__.removesuffix("_gate"), exc)
        verdicts.append(verdict)
        if not verdict.passed:
            break
    return verdicts


TRAINED_GATES = (causality_gate, prefix_consistency_gate, trained_receptive_field_gate, local_growth_gate)
"""Re-run on every trained candidate layer: a path that is dormant at initialisation (a leak or a window behind a
zero-initialised scale, a switch that waits for a step count) passes every gate before training and wakes up
during it; what is scored is the trained layer, so that is what these check."""


def trained_layer_failure(layer: nn.Module, cfg: GatesConfig) -> Verdict | None:
    """The first of ``TRAINED_GATES`` the (trained) layer fails, or None."""
    for gate in TRAINED_GATES:
        try:
            verdict = gate(layer, cfg)
        except Exception as exc:  # noqa: BLE001 - an exception inside the layer fails the gate that hit it
            verdict = _raised_verdict(gate.__name__.removesuffix("_gate"), exc)
        if not verdict.passed:
            return verdict
    return None


def _raised_verdict(gate: str, exc: Exception) -> Verdict:
    """An exception inside the layer fails the gate that hit it; running out of memory is named as such."""
    first = f"{type(exc).__name__}: {exc}".splitlines()[0]
    detail = "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES))[-TRACEBACK_CHARS:]
    if isinstance(exc, MemoryError) or OUT_OF_MEMORY in str(exc):
        return Verdict(
            "memory",
            False,
            f"the layer ran out of memory during the {gate} probe ({first[:160]}): allocate tensors that grow "
            "linearly with the input, not fixed huge buffers",
            detail=detail,
        )
    return Verdict(gate, False, f"the layer raised during the {gate} probe: {first}", detail=detail)
