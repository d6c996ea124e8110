"""Memory bomb: reserves a 6 GiB buffer on every call (untouched, so only an address-space limit stops it)."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        scratch = torch.empty(6 * 2**30, dtype=torch.uint8)
        return self.proj(x) + 0 * scratch[:1].float()
