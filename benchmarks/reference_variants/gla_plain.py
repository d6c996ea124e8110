"""Gated Linear Attention written from the paper (Yang et al., 2023, "Gated Linear Attention Transformers").

Memory per head is a (key_dim x value_dim) matrix with a data-dependent forget gate per key channel,

    S_t = diag(alpha_t) S_{t-1} + k_t v_t^T,    o_t = S_t^T q_t,    alpha_t = sigmoid(W2 W1 x_t + b)^(1/16),

the low-rank gate and its temperature of 16 as in the paper; q is scaled by 1/sqrt(head_dim) and there is
no short convolution. The read-out is LayerNorm per head, times silu(W_r x + b_r), then the output
projection. Differs from the zoo's GLA by having no short convs, the paper's temperature-16 log-sigmoid
gate with PyTorch's default initialisation instead of a slow-decay softplus gate, LayerNorm instead of
RMSNorm, and a SiLU output gate instead of an identity-at-init sigmoid gate. Keys keep the full head
width (the paper halves them) so the state matches the zoo's; to stay within the references' ±10%
parameter budget both gates have rank d_model // 8 (the paper's output gate is full rank).
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from asiarch.ops import gated_linear_attention

# The paper's forget-gate temperature: alpha = sigmoid(.)^(1/16) keeps initial decays close to 1.
GATE_TEMPERATURE = 16.0


def low_rank(d_in: int, rank: int, d_out: int) -> nn.Sequential:
    """A d_in -> d_out linear map factored through ``rank`` dimensions, with a bias on the output."""
    return nn.Sequential(nn.Linear(d_in, rank, bias=False), nn.Linear(rank, d_out))


class Mixer(nn.Module):
    """GLA: per-channel data-dependent forgetting, per-head LayerNorm and a SiLU output gate."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        rank = max(1, d_model // 8)
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.forget_gate = low_rank(d_model, rank, d_model)
        self.out_gate = low_rank(d_model, rank, d_model)
        self.head_norm = nn.LayerNorm(self.head_dim)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv_proj(x), "b t (n h d) -> n b h t d", n=3, h=self.num_heads)
        log_alpha = F.logsigmoid(self.forget_gate(x)) / GATE_TEMPERATURE
        log_alpha = rearrange(log_alpha, "b t (h d) -> b h t d", h=self.num_heads)
        o = self.head_norm(gated_linear_attention(q / math.sqrt(self.head_dim), k, v, log_alpha))
        o = rearrange(o, "b h t d -> b t (h d)") * F.silu(self.out_gate(x))
        return self.o_proj(o)
