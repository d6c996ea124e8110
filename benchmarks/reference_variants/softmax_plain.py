"""Causal multi-head softmax attention written from the paper (Vaswani et al., 2017), with rotary positions.

o = softmax(q k^T / sqrt(head_dim) + causal mask) v per head, from one fused q/k/v projection. The backbone
has no positional embedding and the zoo's softmax gets its sense of order from short convolutions on
q/k/v; this version uses rotary embeddings on q and k instead (Su et al., 2021), the common choice in
today's outside implementations. Otherwise as the zoo's: no output norm, an output projection, and
PyTorch's default initialisation.
"""

import torch
from einops import rearrange
from torch import nn

from asiarch.ops import softmax_attention

ROTARY_BASE = 10000.0


def rotate(x: torch.Tensor, base: float = ROTARY_BASE) -> torch.Tensor:
    """Rotate channel pairs (i, i + D/2) of x (B, H, T, D) by position * base^(-2i/D)."""
    half = x.shape[-1] // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)[:, None] * freqs
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Mixer(nn.Module):
    """Causal softmax attention with rotary position embeddings on q and k."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv_proj(x), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        o = softmax_attention(rotate(q), rotate(k), v)
        return self.o_proj(rearrange(o, "b h t d -> b t (h d)"))
