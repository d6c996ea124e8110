"""Shared skeleton of the reference mixers: projections, short convolutions, heads, output.

Every reference follows the Zoology/flash-linear-attention recipe used in the literature:
q/k/v projections, a short causal depthwise convolution on each (kernel 4), a per-head
sequence op from ``asiarch.ops``, and an output projection. Subclasses choose the feature
maps, gates and the op. Initialisation conventions (see ``init_slow_decay_bias`` and
``IdentityGate``) are part of the reference definition: at CPU budgets a layer that starts
with random-sign output gates or fast forgetting cannot learn in time and would be ranked
down for its initialisation rather than its design.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d

SHORT_CONV_SIZE = 4
# Per-step decay at initialisation, as -log(decay): between 1e-3 and 1e-2 means a memory
# half-life of roughly 70–700 tokens, slow compared with our 64–128-token training sequences.
SLOW_DECAY_RANGE = (1e-3, 1e-2)
# Output gates have rank d_model/16: about 3% of a DeltaNet-sized layer's parameters.
OUT_GATE_RANK_DIVISOR = 16


class ShortConv(nn.Module):
    """Causal depthwise convolution over time, followed by SiLU, as used on q/k/v by modern linear RNNs."""

    def __init__(self, channels: int, kernel_size: int = SHORT_CONV_SIZE, activation: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(kernel_size)
        self.weight = nn.Parameter(torch.empty(channels, kernel_size).uniform_(-bound, bound))
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = causal_conv1d(x, self.weight)
        return nn.functional.silu(y) if self.activation else y


def init_slow_decay_bias(
    size: int, low: float = SLOW_DECAY_RANGE[0], high: float = SLOW_DECAY_RANGE[1]
) -> torch.Tensor:
    """Bias b with softplus(b) log-uniform in [low, high], so that -softplus(Wx + b) starts as slow forgetting."""
    target = torch.exp(torch.empty(size).uniform_(math.log(low), math.log(high)))
    return target + torch.log(-torch.expm1(-target))


def slow_decay_projection(d_in: int, d_out: int) -> nn.Linear:
    """A gate projection whose -softplus output starts as slow forgetting, nearly independent of x."""
    proj = nn.Linear(d_in, d_out, bias=True)
    with torch.no_grad():
        proj.weight.mul_(0.1)
        proj.bias.copy_(init_slow_decay_bias(d_out))
    return proj


class ScalarDecay(nn.Module):
    """Mamba2's data-dependent scalar decay per head: dt = softplus(w·x + b), log decay = -exp(log_a)·dt."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.dt_proj = slow_decay_projection(d_model, num_heads)
        self.log_a = nn.Parameter(torch.zeros(num_heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(dt, log_decay), both (B, H, T)."""
        dt = rearrange(nn.functional.softplus(self.dt_proj(x)), "b t h -> b h t")
        return dt, -torch.exp(self.log_a).view(1, -1, 1) * dt


class IdentityGate(nn.Module):
    """Output gate 2·sigmoid(U D x) with U = 0 at init: exactly the identity at start, learnable after.

    Low rank (``d_model // OUT_GATE_RANK_DIVISOR``), as LoRA-style gates are: a full d×d gate adds
    25% to a DeltaNet-sized layer and would break the ±10% parameter budget the references share.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        rank = max(1, d_model // OUT_GATE_RANK_DIVISOR)
        self.down = nn.Linear(d_model, rank, bias=False)
        self.up = nn.Linear(rank, d_model, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y * (2.0 * torch.sigmoid(self.up(self.down(x))))


class HeadMixer(nn.Module):
    """q/k/v projections + short convs + heads + output projection around a per-head op.

    Subclasses implement ``mix(q, k, v, x)`` on (B, H, T, Dh) tensors; ``x`` is the layer input
    (B, T, D) for computing data-dependent gates.

    ``KNOBS`` are the design choices that the papers and public implementations of a reference vary, with the
    values they take; the constructor's defaults are the reference's chosen setting, and
    ``benchmarks/tune_references.py`` searches the alternatives (see ``asiarch.arch.zoo.reference``).
    """

    KNOBS: ClassVar[dict[str, tuple[object, ...]]] = {
        "output_norm": (True, False),
        "short_conv": (True, False),
        "conv_activation": (True, False),
    }
    KNOB_NEEDS: ClassVar[dict[str, tuple[str, object]]] = {"conv_activation": ("short_conv", True)}
    """A knob that only acts when another knob has a value: the convolution's activation needs the convolution."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        output_norm: bool = True,
        short_conv: bool = True,
        conv_activation: bool = True,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        convs = (ShortConv(d_model, activation=conv_activation) for _ in range(3))
        self.convs = nn.ModuleList(convs) if short_conv else None
        self.head_norm = nn.RMSNorm(self.head_dim) if output_norm else None
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.out_gate: IdentityGate | None = None

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        return rearrange(t, "b t (h d) -> b h t d", h=self.num_heads)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gate_output(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y if self.out_gate is None else self.out_gate(x, y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.convs is not None:
            q, k, v = (conv(t) for conv, t in zip(self.convs, (q, k, v)))
        o = self.mix(self.heads(q), self.heads(k), self.heads(v), x)
        if self.head_norm is not None:
            o = self.head_norm(o)
        y = rearrange(o, "b h t d -> b t (h d)")
        return self.o_proj(self.gate_output(x, y))
