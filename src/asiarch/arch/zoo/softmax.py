"""Causal softmax attention: the quadratic upper bound on recall that the others approximate."""

import torch

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import softmax_attention


class SoftmaxAttention(HeadMixer):
    def __init__(self, d_model: int, num_heads: int, output_norm: bool = False, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, output_norm=output_norm, **knobs)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return softmax_attention(q, k, v)
