"""Infinite loop: an iteration whose stopping condition can never hold."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        iterations = 0
        while iterations >= 0:
            iterations += 1
        return self.proj(x)
