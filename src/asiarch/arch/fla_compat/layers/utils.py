"""Stand-in for ``fla.layers.utils``: the unpad/pad helpers used with a padding ``attention_mask``.

An ASI-Arch layer given ``attention_mask`` (batch, seq_len; 1 = token, 0 = padding) packs its real
tokens into one row (``index_first_axis``), runs with ``cu_seqlens`` marking where each sequence
starts, and scatters the result back (``pad_input``). These are plain indexing ops, so autograd
handles them without the custom autograd functions fla uses for speed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["get_unpad_data", "index_first_axis", "pad_input"]


def get_unpad_data(attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Return ``(indices, cu_seqlens, max_seqlen)`` for a (batch, seq_len) 0/1 padding mask.

    ``indices`` are the flat positions (row-major over batch × seq_len) of real tokens;
    ``cu_seqlens`` (int32, batch + 1 entries, starting at 0) are the offsets of each sequence in
    the packed tensor; ``max_seqlen`` is the longest sequence's token count.
    """
    lengths = attention_mask.sum(dim=-1, dtype=torch.int32)
    indices = torch.nonzero(attention_mask.flatten(), as_tuple=False).flatten()
    cu_seqlens = F.pad(torch.cumsum(lengths, dim=0, dtype=torch.int32), (1, 0))
    return indices, cu_seqlens, int(lengths.max().item())


def index_first_axis(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Select rows ``indices`` of ``x`` along its first axis: (total, ...) → (len(indices), ...)."""
    return x[indices]


def pad_input(hidden_states: torch.Tensor, indices: torch.Tensor, batch_size: int, seq_len: int) -> torch.Tensor:
    """Inverse of packing: scatter (tokens, ...) rows to ``indices`` of a zero (batch, seq_len, ...) tensor."""
    flat = hidden_states.new_zeros(batch_size * seq_len, *hidden_states.shape[1:])
    flat = flat.index_copy(0, indices, hidden_states)
    return flat.reshape(batch_size, seq_len, *hidden_states.shape[1:])
