"""Leak: chunked linear attention whose intra-chunk part forgot its causal mask (chunk of 16)."""

import torch
from einops import rearrange

CHUNK = 16


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.qkv = torch.nn.Linear(d_model, 3 * d_model)
        self.out = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        length = x.shape[1]
        pad = (-length) % CHUNK
        q, k, v = rearrange(
            self.qkv(torch.nn.functional.pad(x, (0, 0, 0, pad))), "b t (n h d) -> n b h t d", n=3, h=self.heads
        )
        q, k, v = (
            rearrange(t.sigmoid() if i < 2 else t, "b h (c l) d -> b h c l d", l=CHUNK) for i, t in enumerate((q, k, v))
        )
        state = q.new_zeros(q.shape[0], q.shape[1], q.shape[-1], v.shape[-1])
        outputs = []
        for c in range(q.shape[2]):
            scores = q[:, :, c] @ k[:, :, c].transpose(-1, -2)  # missing .tril()
            outputs.append(q[:, :, c] @ state + scores @ v[:, :, c])
            state = state + k[:, :, c].transpose(-1, -2) @ v[:, :, c]
        o = rearrange(torch.stack(outputs, dim=2), "b h c l d -> b (c l) (h d)")[:, :length]
        return self.out(o) / length
