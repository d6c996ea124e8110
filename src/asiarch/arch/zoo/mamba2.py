"""Mamba2-style state-space duality (Dao & Gu, 2024): a scalar, data-dependent decay per head.

The state update is S_t = exp(-A·dt_t) S_{t-1} + dt_t k_t v_t^T with dt_t = softplus(w·x_t + b);
k and q play the roles of SSD's B and C. A starts at 1 and dt at slow-decay values.
"""

import torch
from torch import nn

from asiarch.arch.zoo.base import HeadMixer, IdentityGate, ScalarDecay
from asiarch.ops import scalar_decay_attention


class Mamba2(HeadMixer):
    def __init__(self, d_model: int, num_heads: int, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, **knobs)
        self.decay = ScalarDecay(d_model, num_heads)
        self.skip = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.out_gate = IdentityGate(d_model)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        dt, log_decay = self.decay(x)
        o = scalar_decay_attention(q, k * dt.unsqueeze(-1), v, log_decay)
        return o + self.skip * v
