"""Leak: a suffix sum (cumsum over the reversed sequence) lets position t read every later token."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        return self.proj(torch.flip(torch.cumsum(torch.flip(x, [1]), dim=1), [1]) / x.shape[1])
