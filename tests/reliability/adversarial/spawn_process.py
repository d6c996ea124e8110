"""Runs a shell command through torch's environment collector: the sandbox refuses the process."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        torch.utils.collect_env.run("id")
        return self.proj(x)
