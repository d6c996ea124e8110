"""Recurrent reference forms: the literal per-token recurrences, the ground truth for every other form.

Each function walks the sequence one token at a time and updates a (Dk, Dv) state per (batch, head)
exactly as the recurrence is written in the docs of `asiarch.ops.dispatch`. They are slow on purpose:
nothing here is clever, so a reader can check them against the maths line by line, and the chunked
training forms (`reference_chunked`) and any fast kernel are tested against them.

Shapes are canonical here (the public functions in `dispatch` validate and broadcast): q, k (B, H, T, Dk),
v (B, H, T, Dv), per-token gates (B, H, T) and vector gates (B, H, T, Dk). Outputs are (B, H, T, Dv) in
v's dtype; arithmetic runs in at least float32 so half-precision inputs do not accumulate in half.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def working_dtype(*tensors: Tensor) -> torch.dtype:
    """At least float32: state accumulation over thousands of steps is not safe in half precision."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def _read(state: Tensor, query: Tensor) -> Tensor:
    """S^T q for a batch of (Dk, Dv) states and (Dk,) queries."""
    return torch.einsum("bhkv,bhk->bhv", state, query)


def _outer(key: Tensor, value: Tensor) -> Tensor:
    return key.unsqueeze(-1) * value.unsqueeze(-2)


def linear_attention_recurrent(
    q: Tensor, k: Tensor, v: Tensor, *, normalize: bool = False, eps: float = 1e-6
) -> Tensor:
    """S_t = S_{t-1} + k_t v_t^T, o_t = S_t^T q_t, optionally over q_t . sum_{s<=t} k_s + eps."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    batch, heads, length, key_dim = q.shape
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1])
    key_sum = q.new_zeros(batch, heads, key_dim)
    outputs = []
    for t in range(length):
        state = state + _outer(k[:, :, t], v[:, :, t])
        out = _read(state, q[:, :, t])
        if normalize:
            key_sum = key_sum + k[:, :, t]
            out = out / ((q[:, :, t] * key_sum).sum(-1, keepdim=True) + eps)
        outputs.append(out)
    return torch.stack(outputs, dim=2).to(out_dtype)


def scalar_decay_attention_recurrent(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor) -> Tensor:
    """S_t = exp(a_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v, decay = q.to(dtype), k.to(dtype), v.to(dtype), log_decay.to(dtype).exp()
    batch, heads, length, key_dim = q.shape
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1])
    outputs = []
    for t in range(length):
        state = decay[:, :, t, None, None] * state + _outer(k[:, :, t], v[:, :, t])
        outputs.append(_read(state, q[:, :, t]))
    return torch.stack(outputs, dim=2).to(out_dtype)


def gated_linear_attention_recurrent(q: Tensor, k: Tensor, v: Tensor, log_gate: Tensor) -> Tensor:
    """S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v, gate = q.to(dtype), k.to(dtype), v.to(dtype), log_gate.to(dtype).exp()
    batch, heads, length, key_dim = q.shape
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1])
    outputs = []
    for t in range(length):
        state = gate[:, :, t, :, None] * state + _outer(k[:, :, t], v[:, :, t])
        outputs.append(_read(state, q[:, :, t]))
    return torch.stack(outputs, dim=2).to(out_dtype)


def delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T, o_t = S_t^T q_t."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v, beta = q.to(dtype), k.to(dtype), v.to(dtype), beta.to(dtype)
    batch, heads, length, key_dim = q.shape
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1])
    outputs = []
    for t in range(length):
        error = v[:, :, t] - _read(state, k[:, :, t])
        state = state + beta[:, :, t, None, None] * _outer(k[:, :, t], error)
        outputs.append(_read(state, q[:, :, t]))
    return torch.stack(outputs, dim=2).to(out_dtype)


def gated_delta_rule_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_decay: Tensor) -> Tensor:
    """S_t = exp(a_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v, beta = q.to(dtype), k.to(dtype), v.to(dtype), beta.to(dtype)
    decay = log_decay.to(dtype).exp()
    batch, heads, length, key_dim = q.shape
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1])
    outputs = []
    for t in range(length):
        k_t, b_t = k[:, :, t], beta[:, :, t, None, None]
        erased = state - b_t * _outer(k_t, _read(state, k_t))
        state = decay[:, :, t, None, None] * erased + b_t * _outer(k_t, v[:, :, t])
        outputs.append(_read(state, q[:, :, t]))
    return torch.stack(outputs, dim=2).to(out_dtype)


def softmax_attention_reference(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Masked-matmul causal softmax attention, to check the fused SDPA call against."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    length = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
    weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    return (weights @ v).to(out_dtype)


def sliding_window_attention_reference(q: Tensor, k: Tensor, v: Tensor, window: int) -> Tensor:
    """Masked-matmul softmax attention where token t sees tokens t - window + 1 .. t."""
    dtype, out_dtype = working_dtype(q, k, v), v.dtype
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    positions = torch.arange(q.shape[-2], device=q.device)
    lag = positions.unsqueeze(-1) - positions.unsqueeze(0)
    visible = (lag >= 0) & (lag < window)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    weights = scores.masked_fill(~visible, float("-inf")).softmax(dim=-1)
    return (weights @ v).to(out_dtype)


def causal_conv1d_reference(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Loop form of y_t = sum_{j<K} w[:, K-1-j] * x_{t-j}, with zeros before the sequence start."""
    kernel_size = weight.shape[-1]
    outputs = []
    for t in range(x.shape[1]):
        y_t = x.new_zeros(x.shape[0], x.shape[2]) if bias is None else bias.expand(x.shape[0], -1)
        for j in range(min(kernel_size, t + 1)):
            y_t = y_t + weight[:, kernel_size - 1 - j] * x[:, t - j]
        outputs.append(y_t)
    return torch.stack(outputs, dim=1)
