"""Not an attack: uses the libraries that read their caller's frame (typing, dataclasses) or run generated code (a
dataclass's __init__, a first import of einops) — the sandbox must let these through."""

from dataclasses import dataclass
from typing import TypeVar

import einops
import torch

T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    heads: int


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.shape = Shape(num_heads)
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        split = einops.rearrange(x, "b t (h d) -> b h t d", h=self.shape.heads)
        return self.proj(einops.rearrange(split, "b h t d -> b t (h d)"))
