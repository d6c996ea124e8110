"""Chunked training forms: the same recurrences as `reference`, computed a chunk at a time.

Why chunks: the per-token loop is T sequential small ops, which is slow and heavy for autograd. Here
the sequence is cut into chunks of C tokens; everything that does not depend on the state carried in
from earlier chunks (intra-chunk attention, the WY factors of the delta rules, each chunk's state
increment) is computed for all chunks at once with batched matmuls, and only the (Dk, Dv) state is
carried across chunks in a short Python loop over chunks (never over tokens).

Numerics: within a chunk, decays are written with cumulative log gates b_t = sum_{i<=t} g_i taken from
the chunk start. Every exponent that is evaluated is a difference b_t - b_s with s <= t (or b_t itself),
hence <= 0, so exp() never overflows however strong the decay; where a full (C, C) matrix is built,
entries above the causal diagonal are set to -inf *before* exp, so neither forward nor backward sees
inf * 0.

Shapes are canonical (see `reference`); T need not be a multiple of C: inputs are zero-padded at the
end (zero keys, zero log gates, zero beta leave the state alone) and the padding is cut from the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from asiarch.ops.reference import working_dtype


def _to_chunks(x: Tensor, chunk_size: int) -> Tensor:
    """(B, H, T, *rest) -> (B, H, N, C, *rest), zero-padding T up to N * C."""
    length = x.shape[2]
    padding = -length % chunk_size
    if padding:
        pad_spec = [0, 0] * (x.dim() - 3) + [0, padding]
        x = F.pad(x, pad_spec)
    return x.unflatten(2, (-1, chunk_size))


def _from_chunks(x: Tensor, length: int) -> Tensor:
    return x.flatten(2, 3)[:, :, :length]


def _causal_mask(size: int, device: torch.device, *, strict: bool = False) -> Tensor:
    return torch.ones(size, size, dtype=torch.bool, device=device).tril(-1 if strict else 0)


def _pairwise_decay(log_cumsum: Tensor) -> Tensor:
    """exp(b_t - b_s) for s <= t, exactly 0 above the diagonal: the (C, C) intra-chunk decay matrix."""
    diff = log_cumsum.unsqueeze(-1) - log_cumsum.unsqueeze(-2)
    mask = _causal_mask(log_cumsum.shape[-1], log_cumsum.device)
    return torch.where(mask, diff, float("-inf")).exp()


def _scan_linear_state(decay: Tensor, increment: Tensor) -> Tensor:
    """State entering each chunk for S_n = decay_n * S_{n-1} + increment_n, starting from S = 0.

    decay broadcasts against increment (B, H, N, Dk, Dv); returns (B, H, N, Dk, Dv). The chunks are taken apart
    with one ``unbind``: indexing chunk n in the loop would make autograd build a full-size zero gradient per
    chunk, a backward pass quadratic in the number of chunks.
    """
    state = torch.zeros_like(increment[:, :, 0])
    entering = []
    for chunk_decay, chunk_increment in zip(decay.expand_as(increment).unbind(2), increment.unbind(2)):
        entering.append(state)
        state = chunk_decay * state + chunk_increment
    return torch.stack(entering, dim=2)


def scalar_decay_attention_chunk(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor, *, chunk_size: int = 64) -> Tensor:
    """Chunked S_t = exp(a_t) S_{t-1} + k_t v_t^T; the scalar decay makes the (C, C) decay matrix exact."""
    dtype = working_dtype(q, k, v)
    length = q.shape[2]
    qc, kc, vc = (_to_chunks(x.to(dtype), chunk_size) for x in (q, k, v))
    b = _to_chunks(log_decay.to(dtype), chunk_size).cumsum(-1)
    b_last = b[..., -1:]

    intra = ((qc @ kc.transpose(-1, -2)) * _pairwise_decay(b)) @ vc
    increment = (kc * (b_last - b).exp().unsqueeze(-1)).transpose(-1, -2) @ vc
    entering = _scan_linear_state(b_last.exp().unsqueeze(-1), increment)
    inter = (qc * b.exp().unsqueeze(-1)) @ entering
    return _from_chunks(intra + inter, length).to(v.dtype)


def linear_attention_chunk(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    normalize: bool = False,
    eps: float = 1e-6,
    chunk_size: int = 64,
) -> Tensor:
    """Linear attention is scalar decay with log decay 0.

    The normaliser q_t . sum_{s<=t} k_s is the same computation with a constant value column of ones,
    so it rides along as an extra value channel instead of needing its own scan.
    """
    no_decay = q.new_zeros(q.shape[:3], dtype=working_dtype(q, k, v))
    if not normalize:
        return scalar_decay_attention_chunk(q, k, v, no_decay, chunk_size=chunk_size)
    ones = v.new_ones(v.shape[:3] + (1,))
    out = scalar_decay_attention_chunk(
        q, k, torch.cat([v, ones], dim=-1).to(no_decay.dtype), no_decay, chunk_size=chunk_size
    )
    return (out[..., :-1] / (out[..., -1:] + eps)).to(v.dtype)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _gla_sub_chunk_diagonal(q: Tensor, k: Tensor, v: Tensor, local: Tensor) -> Tensor:
    """Output from pairs s <= t inside one sub-chunk, decays exp(l_t - l_s) per key channel.

    This is the one place a vector gate forces elementwise work over (pairs, Dk). Only the
    c (c + 1) / 2 causal pairs are gathered, not all c^2 with a mask: about half the memory traffic,
    and every exponent evaluated is <= 0, so no -inf masking is needed.
    """
    size = local.shape[-2]
    rows, cols = torch.tril_indices(size, size, device=local.device)
    decay = (local.index_select(-2, rows) - local.index_select(-2, cols)).exp()
    pair_scores = (q.index_select(-2, rows) * k.index_select(-2, cols) * decay).sum(-1)
    scores = pair_scores.new_zeros(pair_scores.shape[:-1] + (size * size,))
    scores = scores.index_copy(-1, rows * size + cols, pair_scores).unflatten(-1, (size, size))
    return scores @ v


def _gla_states_within_chunk(increment: Tensor, totals: Tensor) -> Tensor:
    """State entering each sub-chunk from this chunk's earlier sub-chunks only (zero entering state).

    increment (..., n, Dk, Dv) is each sub-chunk's state increment decayed to its own end; totals
    (..., n, Dk) its summed log gate. Sub-chunk j reaches the start of sub-chunk i > j decayed by the
    gates of the sub-chunks strictly between them: an (n, n, Dk) decay with exponents <= 0.
    """
    cumulative = totals.cumsum(-2)
    diff = (cumulative - totals).unsqueeze(-2) - cumulative.unsqueeze(-3)
    mask = _causal_mask(totals.shape[-2], totals.device, strict=True).unsqueeze(-1)
    decay = torch.where(mask, diff, float("-inf")).exp()
    return torch.einsum("...ijd,...jdv->...idv", decay, increment)


def gated_linear_attention_chunk(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_gate: Tensor,
    *,
    chunk_size: int = 64,
    sub_chunk_size: int = 8,
) -> Tensor:
    """Chunked S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, overflow-free at any gate strength.

    A vector gate gives each key channel its own decay, so the (C, C) decay matrix of the scalar case
    becomes (C, C, Dk). The textbook factorisation q_t exp(b_t) . k_s exp(-b_s) needs exp(-b_s), which
    overflows in float32 once a chunk's cumulative gate passes about -88 (nine steps at gate -10), and
    materialising (C, C, Dk) for the whole chunk is slow. So each chunk is cut into sub-chunks of c
    tokens (the largest divisor of chunk_size not above sub_chunk_size), and three exact pieces are
    combined, each taking exp only of a sum of log gates over a causal span, hence of a number <= 0:
      * pairs inside a sub-chunk: exp(l_t - l_s) per key channel, l the gate cumulated within the
        sub-chunk (`_gla_sub_chunk_diagonal`);
      * pairs across sub-chunks of one chunk: each sub-chunk's state increment (keys decayed to the
        sub-chunk's end), passed forward with an (n, n, Dk) decay over whole sub-chunks
        (`_gla_states_within_chunk`) and read by q_t exp(l_t);
      * the state carried in from earlier chunks, read by q_t exp(b_t), b cumulated from the chunk start.
    Each exp(b_t - b_s) is thus a product of factors <= 1; if one underflows to 0, the exact product is
    at least as small. Cost grows with c through the (c, c, Dk) pairs and with C / c through the
    sub-chunk states; c = 8 is the fastest at Dk = Dv = 32 on CPU.
    """
    dtype = working_dtype(q, k, v)
    length = q.shape[2]
    sub = _largest_divisor_at_most(chunk_size, sub_chunk_size)
    qc, kc, vc, gc = (_to_chunks(x.to(dtype), chunk_size) for x in (q, k, v, log_gate))
    qs, ks, vs, gs = (x.unflatten(3, (-1, sub)) for x in (qc, kc, vc, gc))
    local = gs.cumsum(-2)
    totals = local[..., -1, :]
    starts = totals.cumsum(-2) - totals
    b = (local + starts.unsqueeze(-2)).flatten(3, 4)
    b_last = b[..., -1:, :]

    diagonal = _gla_sub_chunk_diagonal(qs, ks, vs, local)
    increment = (ks * (totals.unsqueeze(-2) - local).exp()).transpose(-1, -2) @ vs
    within = (qs * local.exp()) @ _gla_states_within_chunk(increment, totals)

    chunk_increment = (kc * (b_last - b).exp()).transpose(-1, -2) @ vc
    entering = _scan_linear_state(b_last.exp().transpose(-1, -2), chunk_increment)
    out = (diagonal + within).flatten(3, 4) + (qc * b.exp()) @ entering
    return _from_chunks(out, length).to(v.dtype)


def _scan_delta_state(
    pseudo_values: Tensor, pseudo_keys: Tensor, decayed_keys: Tensor, chunk_decay: Tensor
) -> tuple[Tensor, Tensor]:
    """Carry the state across chunks for the (gated) delta rule.

    Within chunk n the corrected values are U_n = pseudo_values_n - pseudo_keys_n @ S (S entering the
    chunk), and the state leaving it is chunk_decay_n * S + decayed_keys_n^T @ U_n.
    Returns (S entering each chunk, U of each chunk). Chunks are unbound once, as in `_scan_linear_state`.
    """
    batch, heads, _, _, key_dim = pseudo_keys.shape
    state = pseudo_values.new_zeros(batch, heads, key_dim, pseudo_values.shape[-1])
    entering, corrected = [], []
    chunks = zip(*(x.unbind(2) for x in (pseudo_values, pseudo_keys, decayed_keys, chunk_decay)))
    for values_n, keys_n, decayed_keys_n, decay_n in chunks:
        u = values_n - keys_n @ state
        entering.append(state)
        corrected.append(u)
        state = decay_n * state + decayed_keys_n.transpose(-1, -2) @ u
    return torch.stack(entering, dim=2), torch.stack(corrected, dim=2)


def gated_delta_rule_chunk(
    q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_decay: Tensor, *, chunk_size: int = 64
) -> Tensor:
    """Chunked S_t = exp(a_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T via the WY/UT transform.

    Derivation (within one chunk, S_0 the entering state, b_t = sum_{i<=t} a_i, gamma_t = exp(b_t)):
    write the update as S_t = exp(a_t) S_{t-1} + k_t u_t^T with u_t = beta_t (v_t - exp(a_t) S_{t-1}^T k_t).
    Unrolling, S_t = gamma_t S_0 + sum_{s<=t} exp(b_t - b_s) k_s u_s^T, so
        u_t + beta_t sum_{s<t} exp(b_t - b_s) (k_t . k_s) u_s = beta_t v_t - beta_t gamma_t S_0^T k_t.
    In matrix form (I + A) U = diag(beta) V - diag(beta gamma) K S_0 with A strictly lower triangular,
    A_ts = beta_t exp(b_t - b_s) k_t . k_s. One unit-lower-triangular solve for all chunks at once gives
        U = U~ - W S_0,   U~ = (I + A)^-1 diag(beta) V,   W = (I + A)^-1 diag(beta gamma) K,
    and then   O = diag(gamma) Q S_0 + (Q K^T * decay, lower incl. diagonal) U,
               S_C = gamma_C S_0 + (K * exp(b_C - b))^T U.
    Every exponent is b_t - b_s with s <= t, so strong decays stay finite. log_decay = 0 is DeltaNet.
    """
    dtype = working_dtype(q, k, v)
    length = q.shape[2]
    qc, kc, vc = (_to_chunks(x.to(dtype), chunk_size) for x in (q, k, v))
    beta_c = _to_chunks(beta.to(dtype), chunk_size).unsqueeze(-1)
    b = _to_chunks(log_decay.to(dtype), chunk_size).cumsum(-1)
    decay = _pairwise_decay(b)
    gamma = b.exp().unsqueeze(-1)

    strict = _causal_mask(chunk_size, b.device, strict=True)
    system = torch.where(strict, beta_c * (kc @ kc.transpose(-1, -2)) * decay, 0.0)
    rhs = torch.cat([beta_c * vc, beta_c * gamma * kc], dim=-1)
    # unitriangular=True supplies the identity of (I + A); A's zero diagonal is never read.
    solved = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True)
    pseudo_values, pseudo_keys = solved.split([vc.shape[-1], kc.shape[-1]], dim=-1)

    b_last = b[..., -1:]
    decayed_keys = kc * (b_last - b).exp().unsqueeze(-1)
    chunk_decay = b_last.exp().unsqueeze(-1)
    entering, corrected = _scan_delta_state(pseudo_values, pseudo_keys, decayed_keys, chunk_decay)
    out = (qc * gamma) @ entering + ((qc @ kc.transpose(-1, -2)) * decay) @ corrected
    return _from_chunks(out, length).to(v.dtype)


def delta_rule_chunk(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, *, chunk_size: int = 64) -> Tensor:
    """DeltaNet is the gated delta rule with no decay; one code path keeps both forms in step."""
    no_decay = q.new_zeros(q.shape[:3], dtype=working_dtype(q, k, v))
    return gated_delta_rule_chunk(q, k, v, beta, no_decay, chunk_size=chunk_size)


def sliding_window_attention_chunk(q: Tensor, k: Tensor, v: Tensor, window: int) -> Tensor:
    """Softmax attention over the last ``window`` tokens, in chunks of ``window`` queries.

    Every query's window lies inside its own chunk and the one before, so each chunk attends to
    2 * window keys under a band mask: cost O(T * window), never O(T^2).
    """
    length = q.shape[2]
    q_chunks, k_chunks, v_chunks = (_to_chunks(t, window) for t in (q, k, v))
    keys = torch.cat([F.pad(k_chunks, (0, 0, 0, 0, 1, -1)), k_chunks], dim=3)
    values = torch.cat([F.pad(v_chunks, (0, 0, 0, 0, 1, -1)), v_chunks], dim=3)
    query_pos = torch.arange(window, device=q.device).unsqueeze(-1) + window
    lag = query_pos - torch.arange(2 * window, device=q.device).unsqueeze(0)
    band = (lag >= 0) & (lag < window)
    first = band.clone()
    first[:, :window] = False
    mask = torch.stack([first] + [band] * (q_chunks.shape[2] - 1))
    out = F.scaled_dot_product_attention(q_chunks, keys, values, attn_mask=mask)
    return _from_chunks(out, length)
