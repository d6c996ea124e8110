"""Defect: a memory carried from one call to the next."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)
        self.memory = None

    def forward(self, x):
        summary = x.mean(dim=(0, 1)).detach()
        self.memory = summary if self.memory is None else self.memory + summary
        return self.proj(x) + self.memory
