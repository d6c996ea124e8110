"""Chooses its own initialisation seed: refused by the import check."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget
        torch.manual_seed(1234)

    def forward(self, x):

        return self.proj(x)
