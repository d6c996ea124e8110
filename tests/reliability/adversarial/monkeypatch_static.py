"""Replaces the loss with one that is always zero: refused by the import check."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget
        torch.nn.functional.cross_entropy = lambda *args, **kwargs: torch.zeros((), requires_grad=True)

    def forward(self, x):

        return self.proj(x)
