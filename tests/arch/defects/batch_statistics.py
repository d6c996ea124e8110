"""Defect: normalising with statistics over the batch mixes samples."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        return self.proj(x - x.mean(dim=0, keepdim=True))
