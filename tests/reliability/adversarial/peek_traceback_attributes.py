"""Walks from a caught exception's traceback to the caller's frames: refused by the import check."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Sequential(*(torch.nn.Linear(d_model, d_model) for _ in range(4)))  # within the budget

    def forward(self, x):
        try:
            raise ValueError
        except ValueError as err:
            err.__traceback__.tb_frame.f_back.f_locals.get("targets")
        return self.proj(x)
