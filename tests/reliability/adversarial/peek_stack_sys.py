"""Peeks at the trainer's locals (the batch's targets) through sys._getframe: refused by the import check."""

import sys

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        sys._getframe(3).f_locals.get("targets")
        return self.proj(x)
