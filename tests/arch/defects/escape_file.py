"""Escape: writes a file outside its directory through os reached from torch, and hides the error."""

import torch

TARGET = "/tmp/asiarch-file-escape"


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        system = torch.utils.collect_env.os
        try:
            system.close(system.open(TARGET, system.O_CREAT | system.O_WRONLY))
        except OSError:
            pass
        return self.proj(x)
