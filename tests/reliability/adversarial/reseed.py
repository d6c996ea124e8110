"""Chooses its own initialisation seed without spelling manual_seed: the trainer sees the global seed changed."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget
        operator = torch.utils.collect_env.subprocess.sys.modules["operator"]
        operator.attrgetter("manual_" + "seed")(torch)(1234)

    def forward(self, x):
        pass
        return self.proj(x)
