"""DeltaNet (Schlag et al., 2021; Yang et al., 2024): the delta rule overwrites what a key stored.

q and k are L2-normalised so the update (I - beta k k^T) is a contraction; beta = sigmoid(w·x).
"""

import math

import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from asiarch.arch.zoo.base import HeadMixer
from asiarch.ops import delta_rule


class DeltaNet(HeadMixer):
    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__(d_model, num_heads)
        self.beta_proj = nn.Linear(d_model, num_heads, bias=True)

    def betas(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(torch.sigmoid(self.beta_proj(x)), "b t h -> b h t")

    def normalised(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(q, dim=-1) / math.sqrt(self.head_dim), F.normalize(k, dim=-1)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, k = self.normalised(q, k)
        return delta_rule(q, k, v, self.betas(x))
