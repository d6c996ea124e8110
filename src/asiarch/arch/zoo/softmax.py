"""Causal softmax attention: the quadratic upper bound on recall that the others approximate."""

import torch

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import softmax_attention


class SoftmaxAttention(HeadMixer):
    output_norm = False

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return softmax_attention(q, k, v)
