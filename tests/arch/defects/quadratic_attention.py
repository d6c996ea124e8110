"""Quadratic: causal softmax attention that builds the full (T × T) score matrix."""

import torch
from einops import rearrange


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.qkv = torch.nn.Linear(d_model, 3 * d_model)
        self.out = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        q, k, v = rearrange(self.qkv(x), "b t (n h d) -> n b h t d", n=3, h=self.heads)
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        future = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
        o = scores.masked_fill(future, float("-inf")).softmax(-1) @ v
        return self.out(rearrange(o, "b h t d -> b t (h d)"))
