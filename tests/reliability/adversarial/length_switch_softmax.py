"""Gaming by length: full softmax attention below 512 tokens, chunked linear attention from 512 on.

At every fixed length it is an honest causal layer, and at the gates' speed and scaling lengths
(1024 to 4096 tokens) it is linear attention. The evaluation stages train at 64 and 128 tokens,
where it is quadratic softmax attention: the gates would have certified a different layer from
the one that is trained.
"""

import torch
import torch.nn.functional as F
from einops import rearrange

from asiarch.ops import linear_attention

SWITCH_LENGTH = 512


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
        if x.shape[1] < SWITCH_LENGTH:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            o = linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)
        return self.o_proj(rearrange(o, "b h t d -> b t (h d)"))
