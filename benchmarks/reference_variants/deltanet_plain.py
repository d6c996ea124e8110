"""DeltaNet written from the papers (Schlag et al., 2021; Yang et al., 2024), as an outside implementer would.

Memory per head is a (key_dim x value_dim) matrix updated by the delta rule

    S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,    o_t = S_t^T q_t,

with q and k L2-normalised and beta_t = sigmoid(w . x_t) per head. Differs from the zoo's DeltaNet in the
ordinary ways: one fused q/k/v projection, PyTorch's default initialisation everywhere, q not scaled by
1/sqrt(head_dim) after normalisation (the paper reads with the unit-norm query), and no per-head output
norm before the output projection.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d, delta_rule


class ShortConv(nn.Module):
    """Depthwise causal convolution over time (no bias), initialised as nn.Conv1d would be, then SiLU."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(causal_conv1d(x, self.weight))


class Mixer(nn.Module):
    """DeltaNet: fused q/k/v projection, short conv, L2-normalised q/k, learned write strength beta."""

    def __init__(self, d_model: int, num_heads: int, conv_size: int = 4) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.conv = ShortConv(3 * d_model, conv_size)
        self.beta_proj = nn.Linear(d_model, num_heads)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = rearrange(self.conv(self.qkv_proj(x)), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        q, k, v = F.normalize(qkv[0], dim=-1), F.normalize(qkv[1], dim=-1), qkv[2]
        beta = rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")
        o = delta_rule(q, k, v, beta)
        return self.o_proj(rearrange(o, "b h t d -> b t (h d)"))
