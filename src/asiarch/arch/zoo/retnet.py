"""Retention (RetNet, Sun et al., 2023): linear attention with a fixed per-head exponential decay.

Decays follow RetNet's 1 - 2^(-5-h) schedule, so heads span short to long memories.
"""

import math

import torch

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import scalar_decay_attention

RETNET_BASE_EXPONENT = 5.0


class Retention(HeadMixer):
    def __init__(self, d_model: int, num_heads: int, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, **knobs)
        exponents = -RETNET_BASE_EXPONENT - torch.arange(num_heads, dtype=torch.float32)
        self.register_buffer("log_decay", torch.log1p(-torch.pow(2.0, exponents)).view(1, num_heads, 1))

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        scale = 1.0 / math.sqrt(self.head_dim)
        return scalar_decay_attention(q * scale, k, v, self.log_decay.expand(q.shape[0], -1, q.shape[2]))
