"""Mamba2 / state-space duality written from the paper (Dao & Gu, 2024, "Transformers are SSMs").

One input projection gives the gate z, the SSM input x, the shared (single-group) B and C, and dt per head;
a causal depthwise conv with bias and SiLU runs over x, B and C. Each head h keeps the state

    S_t = exp(-A_h dt_t) S_{t-1} + dt_t B_t x_t^T,    y_t = S_t^T C_t + D_h x_t,    dt_t = softplus(w . u_t + b),

with A uniform in [1, 16] (stored as log A) and softplus(b) log-uniform in [1e-3, 1e-1] at initialisation,
as Mamba2 does. The output is out_proj(RMSNorm(y * silu(z))). Differs from the zoo's Mamba2 by the single
input projection, B and C shared by all heads, the conv bias, Mamba2's (faster) initial decays instead of
slow ones, PyTorch's default initialisation elsewhere, and the gated RMSNorm over the whole width instead of
a per-head norm and an identity-at-init gate. To fit the references' budget: expansion 1 (Mamba2 uses 2)
and d_state equal to the head width, so each head's state has the zoo's size.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d, scalar_decay_attention


class ShortConv(nn.Module):
    """Depthwise causal convolution over time with bias, initialised as nn.Conv1d would be, then SiLU."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(kernel_size)
        self.weight = nn.Parameter(torch.empty(channels, kernel_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(causal_conv1d(x, self.weight, self.bias))


class Mixer(nn.Module):
    """Mamba2's SSD layer: data-dependent scalar decay per head, D skip and a gated RMSNorm."""

    def __init__(
        self, d_model: int, num_heads: int, conv_size: int = 4, dt_range: tuple[float, float] = (1e-3, 1e-1)
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model, self.num_heads = d_model, num_heads
        self.d_state = d_model // num_heads
        self.in_proj = nn.Linear(d_model, 2 * d_model + 2 * self.d_state + num_heads, bias=False)
        self.conv = ShortConv(d_model + 2 * self.d_state, conv_size)
        self.A_log = nn.Parameter(torch.log(torch.empty(num_heads).uniform_(1.0, 16.0)))
        dt = torch.exp(torch.empty(num_heads).uniform_(math.log(dt_range[0]), math.log(dt_range[1])))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        self.D = nn.Parameter(torch.ones(num_heads))
        self.norm = nn.RMSNorm(d_model)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        z, xbc, dt = self.in_proj(u).split([self.d_model, self.d_model + 2 * self.d_state, self.num_heads], dim=-1)
        x, b, c = self.conv(xbc).split([self.d_model, self.d_state, self.d_state], dim=-1)
        x = rearrange(x, "b t (h p) -> b h t p", h=self.num_heads)
        dt = rearrange(F.softplus(dt + self.dt_bias), "b t h -> b h t")
        b, c = (rearrange(t, "b t n -> b 1 t n").expand(-1, self.num_heads, -1, -1) for t in (b, c))
        y = scalar_decay_attention(c, b * dt.unsqueeze(-1), x, -torch.exp(self.A_log)[:, None] * dt)
        y = rearrange(y + self.D[:, None, None] * x, "b h t p -> b t (h p)")
        return self.out_proj(self.norm(y * F.silu(z)))
