"""Reads the module's globals (and from there the interpreter): refused by the import check."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        globals().get("__builtins__")
        return self.proj(x)
