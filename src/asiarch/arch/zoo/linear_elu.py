"""Linear attention with the elu+1 feature map and normaliser (Katharopoulos et al., 2020).

The weakest reference on recall: an additive memory with no forgetting and no correction,
so interference grows with the number of stored pairs.
"""

import torch
from torch.nn import functional as F

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import linear_attention


class LinearAttentionElu(HeadMixer):
    def __init__(self, d_model: int, num_heads: int, output_norm: bool = False, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, output_norm=output_norm, **knobs)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)
