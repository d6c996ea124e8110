"""Gated DeltaNet written from the paper (Yang et al., 2024, "Gated Delta Networks").

The delta rule with a data-dependent scalar decay per head, parameterised as in Mamba2:

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,    alpha_t = exp(-exp(A) softplus(w . x_t + b)),

with A_log initialised so that A is uniform in [1, 16] and b so that softplus(b) is log-uniform in
[1e-3, 1e-1], as Mamba2 does. The read-out is RMSNorm(o) * silu(g(x)). Differs from the zoo's Gated
DeltaNet by the fused q/k/v projection, PyTorch's default initialisation elsewhere, the unscaled unit-norm
query, Mamba2's (faster) initial decays instead of slow ones, and a SiLU output gate instead of an
identity-at-init sigmoid gate. The paper's gate is full rank; here it has rank d_model // 8 so the layer
stays within the references' ±10% parameter budget.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d, gated_delta_rule


class ShortConv(nn.Module):
    """Depthwise causal convolution over time (no bias), initialised as nn.Conv1d would be, then SiLU."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(causal_conv1d(x, self.weight))


class Mixer(nn.Module):
    """Gated DeltaNet: delta rule with a Mamba2-style decay and a gated per-head RMSNorm on the read-out."""

    def __init__(
        self, d_model: int, num_heads: int, conv_size: int = 4, dt_range: tuple[float, float] = (1e-3, 1e-1)
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.conv = ShortConv(3 * d_model, conv_size)
        self.beta_proj = nn.Linear(d_model, num_heads)
        self.a_proj = nn.Linear(d_model, num_heads, bias=False)
        self.A_log = nn.Parameter(torch.log(torch.empty(num_heads).uniform_(1.0, 16.0)))
        dt = torch.exp(torch.empty(num_heads).uniform_(math.log(dt_range[0]), math.log(dt_range[1])))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        gate_rank = max(1, d_model // 8)
        self.gate = nn.Sequential(nn.Linear(d_model, gate_rank, bias=False), nn.Linear(gate_rank, d_model, bias=False))
        self.head_norm = nn.RMSNorm(d_model // num_heads)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = rearrange(self.conv(self.qkv_proj(x)), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        q, k, v = F.normalize(qkv[0], dim=-1), F.normalize(qkv[1], dim=-1), qkv[2]
        beta = rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")
        log_alpha = -torch.exp(self.A_log) * F.softplus(self.a_proj(x) + self.dt_bias)
        o = self.head_norm(gated_delta_rule(q, k, v, beta, rearrange(log_alpha, "b t h -> b h t")))
        o = rearrange(o, "b h t d -> b t (h d)") * F.silu(self.gate(x))
        return self.o_proj(o)
