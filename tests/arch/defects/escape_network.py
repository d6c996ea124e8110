"""Escape: opens a network connection through the socket module found in sys.modules."""

import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        network = torch.utils.collect_env.subprocess.sys.modules["socket"]
        network.create_connection(("127.0.0.1", 9), timeout=1)
        return self.proj(x)
