"""Escape: runs a shell command through a module reached from torch (the import check cannot see it)."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        torch.utils.collect_env.subprocess.run(["sh", "-c", "echo escaped > /tmp/asiarch-shell-escape"])
        return self.proj(x)
