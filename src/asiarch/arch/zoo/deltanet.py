"""DeltaNet (Schlag et al., 2021; Yang et al., 2024): the delta rule overwrites what a key stored.

q and k are L2-normalised so the update (I - beta k k^T) is a contraction; beta = sigmoid(w·x). The read-out
query is scaled by 1/sqrt(head_dim) as in flash-linear-attention's kernels (knob ``q_scale``; the papers read
with the unit-norm query). The scale only matters without the per-head output norm, which undoes it.
"""

import math

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import delta_rule


class DeltaNet(HeadMixer):
    KNOBS = {**HeadMixer.KNOBS, "q_scale": (True, False)}
    KNOB_NEEDS = {**HeadMixer.KNOB_NEEDS, "q_scale": ("output_norm", False)}  # the output norm undoes a scale

    def __init__(self, d_model: int, num_heads: int, q_scale: bool = True, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, **knobs)
        self.beta_proj = nn.Linear(d_model, num_heads, bias=True)
        self.q_divisor = math.sqrt(self.head_dim) if q_scale else 1.0

    def betas(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")

    def normalised(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(q, dim=-1) / self.q_divisor, F.normalize(k, dim=-1)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, k = self.normalised(q, k)
        return delta_rule(q, k, v, self.betas(x))
