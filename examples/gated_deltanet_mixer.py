"""Gated DeltaNet as a Mixer-contract candidate: a readable starting point for new designs.

Memory: a (key_dim × value_dim) matrix per head, updated once per token by the gated delta rule

    S_t = exp(a_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,    o_t = S_t^T q_t.

The delta term overwrites what the memory predicted for k_t (beta_t is the write strength); the
decay exp(a_t) lets the layer forget. asiarch.ops.gated_delta_rule computes this in chunks, so
time is linear in sequence length.

Initialisation follows the project's rule that a layer must be able to learn from step one:
decays start slow (time constants of 16 to 256 tokens), the short convolutions start as the
identity (plus a little noise), and the output gate starts at exactly 1.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d, gated_delta_rule


class ShortConv(nn.Module):
    """Causal depthwise convolution over time with SiLU: a few tokens of local context."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        weight = 0.02 * torch.randn(channels, kernel_size)
        weight[:, -1] += 1.0
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(causal_conv1d(x, self.weight))


class Mixer(nn.Module):
    """Gated DeltaNet: short convs on q/k/v, L2-normalised keys, data-dependent write and decay."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        conv_size: int = 4,
        chunk_size: int = 64,
        min_timescale: float = 16.0,
        max_timescale: float = 256.0,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.chunk_size = chunk_size
        self.norm_eps = norm_eps

        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.q_conv = ShortConv(d_model, conv_size)
        self.k_conv = ShortConv(d_model, conv_size)
        self.v_conv = ShortConv(d_model, conv_size)

        self.beta_proj = nn.Linear(d_model, num_heads, bias=True)
        self.decay_proj = nn.Linear(d_model, num_heads, bias=True)
        nn.init.zeros_(self.decay_proj.weight)
        # softplus(bias) is the forgetting rate per token; spread it log-uniformly over the timescales.
        rates = torch.exp(torch.empty(num_heads).uniform_(-math.log(max_timescale), -math.log(min_timescale)))
        with torch.no_grad():
            self.decay_proj.bias.copy_(torch.log(torch.expm1(rates)))

        # A low-rank output gate (rank d/16) keeps the layer within 10% of DeltaNet's parameters.
        gate_rank = max(1, d_model // 16)
        self.gate_down = nn.Linear(d_model, gate_rank, bias=False)
        self.gate_up = nn.Linear(gate_rank, d_model, bias=False)
        nn.init.zeros_(self.gate_up.weight)
        self.norm_weight = nn.Parameter(torch.ones(self.head_dim))
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return rearrange(t, "b t (h d) -> b h t d", h=self.num_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = F.normalize(self._heads(self.q_conv(self.q_proj(x))), dim=-1)
        k = F.normalize(self._heads(self.k_conv(self.k_proj(x))), dim=-1)
        v = self._heads(self.v_conv(self.v_proj(x)))
        beta = rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")
        log_decay = rearrange(-F.softplus(self.decay_proj(x)), "b t h -> b h t")

        o = gated_delta_rule(q, k, v, beta, log_decay, chunk_size=self.chunk_size)
        # Per-head RMS norm keeps the read-out scale independent of how full the memory is.
        o = o * torch.rsqrt(o.square().mean(dim=-1, keepdim=True) + self.norm_eps) * self.norm_weight
        o = rearrange(o, "b h t d -> b t (h d)")
        gate = 2.0 * torch.sigmoid(self.gate_up(self.gate_down(x)))
        return self.o_proj(o * gate)
