"""Public sequence-mixing ops: one call per op, routed to the form that should run.

Conventions shared by every op (candidates and the zoo code against them):
  * q, k: (B, H, T, Dk); v: (B, H, T, Dv); output (B, H, T, Dv) in v's dtype. All ops are causal.
  * The state S is (Dk, Dv) per (batch, head), and the output at step t reads the state *after* the
    update at t: o_t = S_t^T q_t.
  * Callers apply feature maps, q scaling and key normalisation; the ops do none of that.
  * Gates are given in log space (<= 0), so strong decays stay representable. They must be finite:
    the chunked forms take differences of cumulative sums, and -inf - (-inf) is NaN. For a hard
    reset pass a large negative number (logsigmoid of anything finite already is one).
  * mode="chunk" is the training form (fast, differentiable); mode="recurrent" is the literal per-token
    recurrence, the ground truth the chunked form is tested against. On CUDA, mode="chunk" runs
    flash-linear-attention's kernel for the op where one can run (``asiarch.ops.kernels``), which is
    tested against the chunked form.

Each op validates its inputs here, because a clear shape error is what lets a generated candidate be
repaired; the forms themselves assume canonical shapes.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from asiarch.ops import kernels
from asiarch.ops import reference as rec
from asiarch.ops import reference_chunked as chk

Mode = Literal["chunk", "recurrent"]
MODES = ("chunk", "recurrent")

# Default chunk sizes are the fastest measured on one CPU thread at B=64, H=2, D=32, T=64..128
# (benchmarks/ops_speed.py): small chunks keep the delta rules' triangular solves cheap, while
# GLA's sub-chunked intra-chunk work prefers longer chunks.
CHUNK = 32
GLA_CHUNK = 64


def _on_kernel(op: str, q: Tensor, *args: Tensor, **kwargs: object) -> Tensor | None:
    """The chunked op computed by its GPU kernel, or None when the PyTorch form must answer."""
    if not q.is_cuda:
        return None
    fast = kernels.kernel(op, q)
    return None if fast is None else fast(q, *args, **kwargs)


def _check_common(q: Tensor, k: Tensor, v: Tensor, mode: str, chunk_size: int) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_qkv(q, k, v)


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    if q.dim() != 4:
        raise ValueError(f"q must be (batch, heads, seq_len, key_dim), got shape {tuple(q.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"k must match q's shape {tuple(q.shape)}, got {tuple(k.shape)}")
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"v must be (batch, heads, seq_len, value_dim) with the first three dims of q "
            f"{tuple(q.shape[:3])}, got {tuple(v.shape)}"
        )


def _check_shape(name: str, tensor: Tensor, expected: tuple[int, ...]) -> None:
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")


def _per_token(name: str, gate: Tensor, q: Tensor) -> Tensor:
    """Broadcast a per-token gate to (B, H, T); a 1-D gate means one value per head (e.g. RetNet)."""
    if gate.dim() == 1:
        gate = gate.reshape(1, -1, 1)
    try:
        return gate.expand(q.shape[:3])
    except RuntimeError as error:
        raise ValueError(
            f"{name} must broadcast to (batch, heads, seq_len) = {tuple(q.shape[:3])} "
            f"(or be 1-D with one value per head), got {tuple(gate.shape)}"
        ) from error


def linear_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    normalize: bool = False,
    eps: float = 1e-6,
    mode: Mode = "chunk",
    chunk_size: int = CHUNK,
) -> Tensor:
    """S_t = S_{t-1} + k_t v_t^T; o_t = S_t^T q_t, divided by (q_t . sum_{s<=t} k_s + eps) if normalize.

    Normalisation is Katharopoulos-style and only meaningful with positive feature maps.
    """
    _check_common(q, k, v, mode, chunk_size)
    if mode == "recurrent":
        return rec.linear_attention_recurrent(q, k, v, normalize=normalize, eps=eps)
    if (out := _on_kernel("linear_attention", q, k, v, normalize=normalize, eps=eps)) is not None:
        return out
    return chk.linear_attention_chunk(q, k, v, normalize=normalize, eps=eps, chunk_size=chunk_size)


def scalar_decay_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_decay: Tensor,
    *,
    mode: Mode = "chunk",
    chunk_size: int = CHUNK,
) -> Tensor:
    """S_t = exp(log_decay_t) S_{t-1} + k_t v_t^T (RetNet with a fixed decay, Mamba2/SSD with a learned one).

    log_decay is (B, H, T), anything broadcastable to it, or 1-D (H,) for a fixed per-head decay.
    """
    _check_common(q, k, v, mode, chunk_size)
    log_decay = _per_token("log_decay", log_decay, q)
    if mode == "recurrent":
        return rec.scalar_decay_attention_recurrent(q, k, v, log_decay)
    if (out := _on_kernel("scalar_decay_attention", q, k, v, log_decay)) is not None:
        return out
    return chk.scalar_decay_attention_chunk(q, k, v, log_decay, chunk_size=chunk_size)


def gated_linear_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_gate: Tensor,
    *,
    mode: Mode = "chunk",
    chunk_size: int = GLA_CHUNK,
) -> Tensor:
    """S_t = diag(exp(log_gate_t)) S_{t-1} + k_t v_t^T (GLA: one decay per key channel).

    log_gate is (B, H, T, Dk).
    """
    _check_common(q, k, v, mode, chunk_size)
    _check_shape("log_gate", log_gate, tuple(q.shape))
    if mode == "recurrent":
        return rec.gated_linear_attention_recurrent(q, k, v, log_gate)
    if (out := _on_kernel("gated_linear_attention", q, k, v, log_gate)) is not None:
        return out
    return chk.gated_linear_attention_chunk(q, k, v, log_gate, chunk_size=chunk_size)


def delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    *,
    mode: Mode = "chunk",
    chunk_size: int = CHUNK,
) -> Tensor:
    """S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T (DeltaNet), beta (B, H, T).

    Stable for L2-normalised keys and beta in (0, 2); beta above 1 is the negative-eigenvalue variant.
    """
    _check_common(q, k, v, mode, chunk_size)
    _check_shape("beta", beta, tuple(q.shape[:3]))
    if mode == "recurrent":
        return rec.delta_rule_recurrent(q, k, v, beta)
    if (out := _on_kernel("delta_rule", q, k, v, beta)) is not None:
        return out
    return chk.delta_rule_chunk(q, k, v, beta, chunk_size=chunk_size)


def gated_delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    log_decay: Tensor,
    *,
    mode: Mode = "chunk",
    chunk_size: int = CHUNK,
) -> Tensor:
    """S_t = exp(log_decay_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T (Gated DeltaNet).

    beta and log_decay are (B, H, T).
    """
    _check_common(q, k, v, mode, chunk_size)
    _check_shape("beta", beta, tuple(q.shape[:3]))
    _check_shape("log_decay", log_decay, tuple(q.shape[:3]))
    if mode == "recurrent":
        return rec.gated_delta_rule_recurrent(q, k, v, beta, log_decay)
    if (out := _on_kernel("gated_delta_rule", q, k, v, beta, log_decay)) is not None:
        return out
    return chk.gated_delta_rule_chunk(q, k, v, beta, log_decay, chunk_size=chunk_size)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal softmax attention with the 1/sqrt(Dk) scale: the quadratic baseline of the zoo."""
    _check_qkv(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def sliding_window_attention(q: Tensor, k: Tensor, v: Tensor, window: int, *, mode: Mode = "chunk") -> Tensor:
    """Causal softmax attention limited to the last ``window`` tokens (the 1/sqrt(Dk) scale included).

    Linear in seq_len for a fixed window: the local, exact-recall path of hybrid layers.
    """
    _check_qkv(q, k, v)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "recurrent":
        return rec.sliding_window_attention_reference(q, k, v, window)
    return chk.sliding_window_attention_chunk(q, k, v, window)


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Depthwise causal conv: y_t = sum_{j<K} weight[:, K-1-j] * x_{t-j}, x (B, T, C), weight (C, K).

    Same orientation as torch's conv1d, with K - 1 zeros padded on the left so no output sees the future.
    """
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] != x.shape[-1]:
        raise ValueError(
            f"expected x (batch, seq_len, channels) and weight (channels, kernel_size), "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    # A sum of K shifted, scaled copies: for the short kernels used here (K <= ~8) this is faster
    # on CPU, forward and backward, than a grouped conv1d, and it needs no transposes.
    kernel_size, length = weight.shape[-1], x.shape[1]
    padded = F.pad(x, (0, 0, kernel_size - 1, 0))
    out = padded[:, kernel_size - 1 :] * weight[:, kernel_size - 1]
    for lag in range(1, kernel_size):
        start = kernel_size - 1 - lag
        out = out + padded[:, start : start + length] * weight[:, start]
    return out if bias is None else out + bias
