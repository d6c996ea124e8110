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
    KNOBS = {**HeadMixer.KNOBS, "q_scale": (True, False)}
    KNOB_NEEDS = {**HeadMixer.KNOB_NEEDS, "q_scale": ("output_norm", False)}  # the output norm undoes a scale

    def __init__(self, d_model: int, num_heads: int, q_scale: bool = True, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, **knobs)
        self.q_divisor = math.sqrt(self.head_dim) if q_scale else 1.0
        self.gate_down = nn.Linear(d_model, GATE_RANK, bias=False)
        self.gate_up = slow_decay_projection(GATE_RANK, d_model)
        self.out_gate = IdentityGate(d_model)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        log_gate = -F.softplus(self.gate_up(self.gate_down(x)))
        log_gate = rearrange(log_gate, "b t (h d) -> b h t d", h=self.num_heads)
        return gated_linear_attention(q / self.q_divisor, k, v, log_gate)
