"""Memory bomb: reserves a 16 GiB buffer on every call (untouched, so only an address-space limit stops it)."""

import torch
from einops import rearrange

from asiarch.ops import linear_attention


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.qkv = torch.nn.Linear(d_model, 3 * d_model)
        self.out = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        scratch = torch.empty(16 * 2**30, dtype=torch.uint8)
        q, k, v = rearrange(self.qkv(x).sigmoid(), "b t (n h d) -> n b h t d", n=3, h=self.heads)
        o = rearrange(linear_attention(q, k, v), "b h t d -> b t (h d)")
        return self.out(o) + 0 * scratch[:1].float()
