"""Linear attention written from the paper (Katharopoulos et al., 2020, "Transformers are RNNs").

With the feature map phi(x) = elu(x) + 1 the causal attention becomes a recurrence per head,

    S_t = S_{t-1} + phi(k_t) v_t^T,    z_t = z_{t-1} + phi(k_t),    o_t = S_t^T phi(q_t) / (phi(q_t) . z_t),

computed by asiarch.ops.linear_attention with normalize=True (the paper's denominator). Differs from the
zoo's elu+1 linear attention only in the ordinary ways: one fused q/k/v projection and no short
convolutions (the paper has none), with PyTorch's default initialisation.
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import linear_attention


class Mixer(nn.Module):
    """Causal linear attention with the elu+1 feature map and the normalising denominator."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv_proj(x), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        o = linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)
        return self.o_proj(rearrange(o, "b h t d -> b t (h d)"))
