"""Gated linear attention (GLA, Yang et al., 2024): a data-dependent forget gate per key channel.

The gate comes from a low-rank projection of the input; its bias starts at slow decay.
"""

import math

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from asiarch.arch.zoo.base import HeadMixer, IdentityGate, slow_decay_projection
from asiarch.ops import gated_linear_attention

# Rank of the forget-gate projection: 8 keeps GLA within the references' ±10% parameter budget.
GATE_RANK = 8


class GatedLinearAttention(HeadMixer):
    def __init__(self, d_model: int, num_heads: int, gate_rank: int = GATE_RANK) -> None:
        super().__init__(d_model, num_heads)
        self.gate_down = nn.Linear(d_model, gate_rank, bias=False)
        self.gate_up = slow_decay_projection(gate_rank, d_model)
        self.out_gate = IdentityGate(d_model)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        log_gate = -F.softplus(self.gate_up(self.gate_down(x)))
        log_gate = rearrange(log_gate, "b t (h d) -> b h t d", h=self.num_heads)
        return gated_linear_attention(q / math.sqrt(self.head_dim), k, v, log_gate)
