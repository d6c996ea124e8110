"""Replaces the trainer's loss through an alias (the import check sees no library name assigned to): the library guard names it."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget
        functional = torch.nn.functional
        functional.cross_entropy = lambda *args, **kwargs: torch.zeros((), requires_grad=True)

    def forward(self, x):
        pass
        return self.proj(x)
