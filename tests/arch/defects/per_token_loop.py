"""Slow: decayed linear attention written as a Python loop over tokens (correct, causal, linear, slow)."""

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
        state = q.new_zeros(q.shape[0], q.shape[1], q.shape[3], v.shape[3])
        outputs = []
        for t in range(x.shape[1]):
            state = 0.99 * state + k[:, :, t, :, None] * v[:, :, t, None, :]
            outputs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], state))
        o = torch.stack(outputs, dim=2)
        return self.out(rearrange(o, "b h t d -> b t (h d)"))
