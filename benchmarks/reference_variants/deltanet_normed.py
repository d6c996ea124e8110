"""DeltaNet written from the papers (Schlag et al., 2021; Yang et al., 2024), with an output norm.

The same delta rule as ``deltanet_plain.py``,

    S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,    o_t = S_t^T q_t,

in the second common build: the short convolutions are linear (no SiLU after them) and each head's read-out
goes through an RMSNorm before the output projection. Differs from the zoo's DeltaNet by the fused q/k/v
projection, the SiLU-free convolutions, PyTorch's default initialisation and the unscaled unit-norm query.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import causal_conv1d, delta_rule


class ShortConv(nn.Module):
    """Depthwise causal convolution over time (no bias, no activation), initialised as nn.Conv1d would be."""

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return causal_conv1d(x, self.weight)


class Mixer(nn.Module):
    """DeltaNet with linear short convs and a per-head RMSNorm on the read-out."""

    def __init__(self, d_model: int, num_heads: int, conv_size: int = 4) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.conv = ShortConv(3 * d_model, conv_size)
        self.beta_proj = nn.Linear(d_model, num_heads)
        self.head_norm = nn.RMSNorm(d_model // num_heads)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = rearrange(self.conv(self.qkv_proj(x)), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        q, k, v = F.normalize(qkv[0], dim=-1), F.normalize(qkv[1], dim=-1), qkv[2]
        beta = rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")
        o = self.head_norm(delta_rule(q, k, v, beta))
        return self.o_proj(rearrange(o, "b h t d -> b t (h d)"))
