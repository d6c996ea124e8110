"""Infinite loop: a convergence loop whose condition never becomes false."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        y = self.proj(x)
        while y.abs().sum() >= 0:
            y = y * 1.0
        return y
