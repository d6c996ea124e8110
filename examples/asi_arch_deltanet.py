# -*- coding: utf-8 -*-
"""DeltaNet in ASI-Arch's file format: what a layer brought from ASI-Arch looks like to the loader.

ASI-Arch evolves one file whose ``class DeltaNet`` keeps flash-linear-attention's constructor and
``forward(hidden_states, attention_mask=None, ...) -> (o, None, past_key_values)``, and imports its
helpers from ``fla``. The loader serves those ``fla`` names from pure-PyTorch stand-ins on CPU and
wraps the class so it obeys the Mixer contract. This file is written for this project (training
only: ``past_key_values`` is passed through untouched, there is no incremental decoding).

The delta rule, per head with an L2-normalised key k_t and write strength beta_t:

    S_t = S_{t-1} + k_t u_t^T,   u_t = beta_t (v_t - S_{t-1}^T k_t),   o_t = S_t^T q_t.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from fla.layers.utils import get_unpad_data, index_first_axis, pad_input
from fla.modules import FusedRMSNormGated, RMSNorm, ShortConvolution
from fla.modules.l2norm import l2norm

if TYPE_CHECKING:
    from fla.models.utils import Cache


@torch.compile
def chunked_delta_rule(q, k, v, beta, chunk_size: int = 32):
    """Delta rule over (B, H, T, D) inputs, ``chunk_size`` tokens at a time, in linear time.

    Inside a chunk entered with state S0, unrolling the update gives, for the pseudo-values U,
    (I + A) U = diag(beta) V - diag(beta) K S0 with A[t, s] = beta_t k_t.k_s for s < t (the
    earlier writes of the chunk that token t's write must correct). One triangular solve per chunk
    gives U = U0 - W S0 with U0, W independent of S0; a short loop over chunks then carries S.
    """
    length = q.shape[2]
    pad = (-length) % chunk_size
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        beta = F.pad(beta, (0, pad))
    q, k, v = (rearrange(t, "b h (n c) d -> b h n c d", c=chunk_size) for t in (q, k, v))
    beta = rearrange(beta, "b h (n c) -> b h n c 1", c=chunk_size)

    earlier = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril(-1)
    interactions = ((beta * k) @ k.transpose(-1, -2)).masked_fill(~earlier, 0.0)
    solved = torch.linalg.solve_triangular(
        interactions, torch.cat([beta * v, beta * k], dim=-1), upper=False, unitriangular=True
    )
    u0, w = solved.split([v.shape[-1], k.shape[-1]], dim=-1)

    up_to_now = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
    state = q.new_zeros(q.shape[0], q.shape[1], q.shape[-1], v.shape[-1])
    outputs = []
    for n in range(q.shape[2]):
        q_n, k_n = q[:, :, n], k[:, :, n]
        u = u0[:, :, n] - w[:, :, n] @ state
        scores = (q_n @ k_n.transpose(-1, -2)).masked_fill(~up_to_now, 0.0)
        outputs.append(q_n @ state + scores @ u)
        state = state + k_n.transpose(-1, -2) @ u
    o = rearrange(torch.stack(outputs, dim=2), "b h n c d -> b h (n c) d")
    return o[:, :, :length]


def delta_rule_per_sequence(q, k, v, beta, cu_seqlens):
    """Run the delta rule on each packed sequence separately, so no memory crosses sequences."""
    if cu_seqlens is None:
        return chunked_delta_rule(q, k, v, beta)
    bounds = cu_seqlens.tolist()
    pieces = [
        chunked_delta_rule(q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], beta[:, :, s:e])
        for s, e in zip(bounds[:-1], bounds[1:])
    ]
    return torch.cat(pieces, dim=2)


class DeltaNet(nn.Module):
    def __init__(
        self,
        mode: str = "chunk",
        hidden_size: int = 1024,
        expand_k: float = 1.0,
        expand_v: float = 1.0,
        num_heads: int = 4,
        use_beta: bool = True,
        use_gate: bool = False,
        use_short_conv: bool = True,
        conv_size: int = 4,
        conv_bias: bool = False,
        layer_idx: Optional[int] = None,
        norm_eps: float = 1e-5,
        **kwargs,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.use_beta = use_beta
        self.use_gate = use_gate
        self.use_short_conv = use_short_conv
        self.layer_idx = layer_idx
        self.key_dim = int(hidden_size * expand_k)
        self.value_dim = int(hidden_size * expand_v)
        if self.key_dim % num_heads or self.value_dim % num_heads:
            raise ValueError(f"key dim {self.key_dim} and value dim {self.value_dim} must divide by {num_heads} heads")
        self.head_k_dim = self.key_dim // num_heads
        self.head_v_dim = self.value_dim // num_heads

        self.q_proj = nn.Linear(hidden_size, self.key_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, self.key_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
        if use_beta:
            self.b_proj = nn.Linear(hidden_size, num_heads, bias=False)
        if use_short_conv:
            self.q_conv1d = ShortConvolution(self.key_dim, kernel_size=conv_size, bias=conv_bias, activation="silu")
            self.k_conv1d = ShortConvolution(self.key_dim, kernel_size=conv_size, bias=conv_bias, activation="silu")
            self.v_conv1d = ShortConvolution(self.value_dim, kernel_size=conv_size, bias=conv_bias, activation="silu")
        if use_gate:
            # A sigmoid gate from zero weights starts as a constant 1/2, not as random noise on the output.
            self.g_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
            nn.init.zeros_(self.g_proj.weight)
            self.o_norm = FusedRMSNormGated(self.head_v_dim, eps=norm_eps, activation="sigmoid")
        else:
            self.o_norm = RMSNorm(self.head_v_dim, eps=norm_eps)
        self.o_proj = nn.Linear(self.value_dim, hidden_size, bias=False)

    def _qkv(self, hidden_states: torch.Tensor, cu_seqlens: Optional[torch.Tensor]):
        projections = (self.q_proj, self.k_proj, self.v_proj)
        if not self.use_short_conv:
            return [F.silu(proj(hidden_states)) for proj in projections]
        convs = (self.q_conv1d, self.k_conv1d, self.v_conv1d)
        return [conv(proj(hidden_states), cu_seqlens=cu_seqlens)[0] for proj, conv in zip(projections, convs)]

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        past_key_values: Optional[Cache] = None,
        use_cache: Optional[bool] = False,
        output_attentions: Optional[bool] = False,
        **kwargs: Dict,
    ) -> Tuple[torch.Tensor, None, Optional[Cache]]:
        batch_size, seq_len, _ = hidden_states.shape
        cu_seqlens = kwargs.get("cu_seqlens")
        indices = None
        if attention_mask is not None:
            indices, cu_seqlens, _ = get_unpad_data(attention_mask[:, -seq_len:])
            hidden_states = index_first_axis(rearrange(hidden_states, "b s d -> (b s) d"), indices).unsqueeze(0)

        q, k, v = self._qkv(hidden_states, cu_seqlens)
        q, k = (l2norm(rearrange(t, "b t (h d) -> b h t d", d=self.head_k_dim)) for t in (q, k))
        v = rearrange(v, "b t (h d) -> b h t d", d=self.head_v_dim)
        if self.use_beta:
            beta = rearrange(self.b_proj(hidden_states).sigmoid(), "b t h -> b h t")
        else:
            beta = torch.ones_like(q[..., 0])

        o = rearrange(delta_rule_per_sequence(q, k, v, beta, cu_seqlens), "b h t d -> b t h d")
        if self.use_gate:
            g = rearrange(self.g_proj(hidden_states), "b t (h d) -> b t h d", d=self.head_v_dim)
            o = self.o_norm(o, g)
        else:
            o = self.o_norm(o)
        o = self.o_proj(rearrange(o, "b t h d -> b t (h d)"))
        if indices is not None:
            o = pad_input(o.squeeze(0), indices, batch_size, seq_len)
        return o, None, past_key_values
