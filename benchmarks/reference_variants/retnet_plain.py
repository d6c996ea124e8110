"""Multi-scale retention written from the RetNet paper (Sun et al., 2023, "Retentive Network").

Each head h is linear attention with a fixed exponential decay and the paper's rotation of q and k,

    S_t = gamma_h S_{t-1} + k_t v_t^T,    o_t = S_t^T q_t,    gamma_h = 1 - 2^(-5-h),

where q_t and k_t are rotated by the angle t*theta (the paper's e^(i n theta), written here as rotary
embeddings) and k is scaled by 1/sqrt(head_dim). Heads are concatenated, normalised by GroupNorm (one
group per head), multiplied by swish(W_G x) and projected out; the paper's extra per-row normalisations of
the retention scores are left out because GroupNorm cancels them. Differs from the zoo's retention by the
fused q/k/v projection, no short convolutions, the rotation, GroupNorm instead of RMSNorm and the swish
gate, with PyTorch's default initialisation. The paper's gate is full rank and its values twice as wide;
here values keep d_model and the gate has rank d_model // 8, to stay within the ±10% parameter budget.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import scalar_decay_attention

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
    """RetNet's multi-scale retention: fixed per-head decays, GroupNorm and a swish output gate."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        gate_rank = max(1, d_model // 8)
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.gate = nn.Sequential(nn.Linear(d_model, gate_rank, bias=False), nn.Linear(gate_rank, d_model, bias=False))
        self.group_norm = nn.GroupNorm(num_heads, d_model)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        gamma = 1.0 - torch.pow(2.0, -5.0 - torch.arange(num_heads, dtype=torch.float32))
        self.register_buffer("log_gamma", torch.log(gamma))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv_proj(x), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        q, k = rotate(q), rotate(k) / math.sqrt(self.head_dim)
        o = rearrange(scalar_decay_attention(q, k, v, self.log_gamma), "b h t d -> b t (h d)")
        o = self.group_norm(o.flatten(0, 1)).view_as(o)
        return self.o_proj(F.silu(self.gate(x)) * o)
