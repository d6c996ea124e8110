"""The receptive-field gate: no finite attention window that covers a sizeable share of the evaluated sequences.

A sliding softmax window of W tokens costs O(T·W), so it passes the sub-quadratic gate; but on a
sequence no longer than W it is full softmax attention. The stages train at 64 and 128 tokens, so a
128-token window next to a linear path (or softmax inside aligned blocks of 64) would be scored as
a linear design while it trains as softmax attention. Cost cannot see this; the layer's behaviour can.

Method. On a random input of length L = 4 × the longest stage length (batch 12), for 6 output
positions t in the second half (the last one and every 31st before it), backpropagate a random projection r·y_t and read each sample's
influence profile I_t(d) = ‖∂(r·y_t)/∂x_{t−d}‖ (norm over channels), d = 0..t. A window edge at
distance D is a cliff in log I: with means over bins of k = 8 distances,

    drop(D) = [in − out] − ½ [(before − in) + (out − after)],

where before, in, out, after are the mean log-influences over [D−2k, D−k), [D−k, D), [D, D+k) and
[D+k, D+2k). The bracket is the fall across D; the correction removes what the local slope
predicts, so smooth exponential forgetting, however fast, is no cliff (a fixed decay of 0.2 per
step falls 6.2x across D = 33 uncorrected, 1.4x corrected). A drop counts only where the inside
level is at least 1e-3 of the sample's largest influence (a tail that has decayed to nothing holds
no window), and at each (t, D) the median over the samples is taken: a window edge sits at the same
distance in every sample, while a data-dependent reset (a gate that wipes the memory at some token)
falls at a different distance in each (sharp resets reached 15–24x in a profile pooled over the
batch, at most 1.6x as a median). Each t is judged on its own, since a block-local window has its
edge at a different distance for every t; the positions are 31 tokens apart (under the 32-token
limit), so any block of 64 tokens or more, at any offset, leaves some position 32 tokens or more
past its block's start.

The gate fails when some t shows a drop of at least 3x at a distance D ≥ ``max_window_fraction`` ×
the shortest stage length (32 tokens by default): the researcher's windows of 4–8 tokens and its
FIR filters of up to 17 taps (3.7x at D = 20, after the 4-tap short convolution) stay below it.
Measured at d_model 64, largest drop at D ≥ 32 over three input seeds: honest layers, the zoo
1.2–1.7x, the examples ≤ 1.8x, the loader fixtures ≤ 1.5x, 30 offline-researcher proposals ≤ 1.7x,
fixed decays of 0.05–0.5 per step and sharp data-dependent resets ≤ 1.6x; attacks, a 128-token
sliding window plus linear attention 4.8–5.9x, softmax in aligned blocks of 64 plus linear attention
15.7–15.9x (windows of 32–192 tokens: 3.6–19x). Limits: a window longer than about half the probe
(256 tokens: 3.0x; 384: 2.4x) leaves too little sequence past its edge, and a window hidden behind a
much larger linear path, or switched off at initialisation, shows a smaller drop; the gate sees the
layer as it will start training.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from asiarch.arch.contract import split_output
from asiarch.arch.verdict import Verdict
from asiarch.config import GatesConfig

PROBE_BATCH = 12
PROBE_POSITIONS = 6
PROBE_LENGTH_MULTIPLE = 4
"""The probe is this many times the longest stage length: room for a window that covers it, and for
the distances beyond the window where its edge shows."""
EDGE_BIN = 8
EDGE_FACTOR = 3.0
EDGE_FLOOR = 1e-3
TRAINED_REACH = 2
"""On a trained layer, window edges are looked for up to this many times the longest stage length ..."""
TRAINED_EDGE_FACTOR = 4.0
"""... and count from this drop: trained decays and gates, probed with random inputs unlike the hidden states they
were trained on, fall more steeply than at initialisation (the six screen-trained references, 24 layers: up to
2.7x within reach); an awakened 128-token window falls 5.1x."""
LOG_FLOOR = 1e-6
"""Influences below this share of a sample's largest count as this share: log(0) would swamp the bin means."""


def probe_positions(length: int, limit: int) -> list[int]:
    """``PROBE_POSITIONS`` outputs in the second half, from the last one back, ``limit - 1`` apart (less where the
    half is short): closer than the window limit, so that in any block-local layer with blocks of twice the limit
    or more some position lies at least ``limit`` tokens past its block's start, whatever the block's offset."""
    stride = max(1, min(limit - 1, length // (2 * PROBE_POSITIONS)))
    return [length - 1 - i * stride for i in range(PROBE_POSITIONS)]


def influence_profiles(layer: nn.Module, length: int, limit: int, cfg: GatesConfig) -> list[tuple[int, torch.Tensor]]:
    """For each probe position t: (t, I) with I[b, d] the channel norm of ∂(r_b·y_t)/∂x_{t−d} in sample b."""
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(PROBE_BATCH, length, cfg.d_model, generator=generator, requires_grad=True)
    y = split_output(layer(x))[0]
    profiles = []
    for t in probe_positions(length, limit):
        projection = torch.randn(PROBE_BATCH, cfg.d_model, generator=generator)
        (grad,) = torch.autograd.grad(
            (y[:, t] * projection).sum(), x, retain_graph=True, allow_unused=True, materialize_grads=True
        )
        profiles.append((t, grad[:, : t + 1].flip(1).norm(dim=2)))
    return profiles


def edge_drops(profile: torch.Tensor, nearest: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances D >= ``nearest``, log of the median over samples of the slope-corrected drop across D)."""
    top = profile.amax(dim=1, keepdim=True).clamp_min(torch.finfo(profile.dtype).tiny)
    log_influence = profile.clamp_min(top * LOG_FLOOR).log()
    sums = F.pad(log_influence.cumsum(dim=1), (1, 0))
    distances = torch.arange(max(nearest, 2 * EDGE_BIN), profile.shape[1] - 2 * EDGE_BIN + 1)
    before, inside, outside, after = (
        (sums[:, distances + (i + 1) * EDGE_BIN] - sums[:, distances + i * EDGE_BIN]) / EDGE_BIN for i in (-2, -1, 0, 1)
    )
    drops = (inside - outside) - ((before - inside) + (outside - after)) / 2
    drops = torch.where(inside >= top.log() + math.log(EDGE_FLOOR), drops, torch.zeros_like(drops))
    return distances, drops.median(dim=0).values


def largest_drop(
    profiles: list[tuple[int, torch.Tensor]], limit: int, farthest: int | None = None
) -> tuple[float, int, int]:
    """(log drop, distance, position) of the largest drop at a distance from ``limit`` to ``farthest`` (None: any);
    (0, 0, 0) for none."""
    worst = (0.0, 0, 0)
    for t, profile in profiles:
        distances, drops = edge_drops(profile, limit)
        if farthest is not None:
            distances, drops = distances[distances <= farthest], drops[distances <= farthest]
        if len(drops) and float(drops.max()) > worst[0]:
            index = int(drops.argmax())
            worst = (float(drops[index]), int(distances[index]), t)
    return worst


def window_limit(cfg: GatesConfig) -> int:
    """The shortest window edge the gate refuses: ``max_window_fraction`` of the shortest stage length."""
    return math.ceil(cfg.max_window_fraction * cfg.evaluated_seq_lens[0])


def receptive_field_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """No output position reads through a window whose edge lies at ``max_window_fraction`` of the shortest
    stage length or beyond (see the module docstring for the method and the measured margins)."""
    return _receptive_field(layer, cfg, None, EDGE_FACTOR)


def trained_receptive_field_gate(layer: nn.Module, cfg: GatesConfig) -> Verdict:
    """The receptive-field gate for a trained layer: window edges up to twice the longest stage length, from a
    drop of ``TRAINED_EDGE_FACTOR``.

    Trained decays and gates can fall steeply far out (a screen-trained Mamba2 showed 3.1x at 424 tokens); a
    window that long is one the local growth gate, also re-run on trained layers, sees by its cost."""
    return _receptive_field(layer, cfg, TRAINED_REACH * cfg.evaluated_seq_lens[-1], TRAINED_EDGE_FACTOR)


def _receptive_field(layer: nn.Module, cfg: GatesConfig, farthest: int | None, edge_factor: float) -> Verdict:
    limit = window_limit(cfg)
    length = PROBE_LENGTH_MULTIPLE * cfg.evaluated_seq_lens[-1]
    profiles = influence_profiles(layer, length, limit, cfg)
    if not all(torch.isfinite(profile).all() for _, profile in profiles):
        return Verdict(
            "receptive_field", False, f"the gradient with respect to the input is NaN or Inf at length {length}"
        )
    drop, distance, position = largest_drop(profiles, limit, farthest)
    factor = math.exp(drop)
    figures = {"max_drop": factor, "drop_distance": float(distance), "window_limit": float(limit)}
    if factor >= edge_factor:
        return Verdict(
            "receptive_field",
            False,
            f"the influence of earlier tokens on position {position} falls {factor:.1f}x at distance {distance} in "
            f"at least half the samples: a finite attention window of about {distance} tokens, which on the "
            f"sequences the stages train on ({', '.join(map(str, cfg.evaluated_seq_lens))} tokens) is (close to) full attention; "
            f"keep windows under {limit} tokens (gates.max_window_fraction) and reach further with a recurrence",
            figures,
        )
    where = f", at distance {distance}" if distance else ""
    return Verdict(
        "receptive_field",
        True,
        f"no window edge at {limit} tokens or beyond (largest drop {factor:.1f}x{where})",
        figures,
    )
