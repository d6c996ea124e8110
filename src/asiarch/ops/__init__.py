"""Sequence-mixing ops in pure PyTorch: chunked training forms checked against per-token recurrences.

Import the ops from here; `dispatch` documents the shared conventions (shapes, state, log-space gates).
"""

from asiarch.ops.dispatch import (
    Mode,
    causal_conv1d,
    delta_rule,
    gated_delta_rule,
    gated_linear_attention,
    linear_attention,
    scalar_decay_attention,
    sliding_window_attention,
    softmax_attention,
)
from asiarch.ops.reference import causal_conv1d_reference, softmax_attention_reference

__all__ = [
    "Mode",
    "causal_conv1d",
    "causal_conv1d_reference",
    "delta_rule",
    "gated_delta_rule",
    "gated_linear_attention",
    "linear_attention",
    "scalar_decay_attention",
    "sliding_window_attention",
    "softmax_attention",
    "softmax_attention_reference",
]
