"""The vocabulary of design motifs shared by the cognition base, the offline researcher and the Analyst's credit.

A cognition entry names the motifs a paper's idea maps to; the offline grammar composes designs out of
the same motifs; the Analyst credits fitness changes to them. One vocabulary keeps the three speaking
about the same things.
"""

from __future__ import annotations

MOTIFS: dict[str, str] = {
    # q/k feature maps
    "feature:identity": "raw projections as queries and keys (no feature map)",
    "feature:elu_plus_one": "elu(x) + 1: positive features, Katharopoulos linear attention",
    "feature:relu": "relu(x): sparse positive features",
    "feature:silu_l2": "silu(x) followed by L2 normalisation of each head's keys and queries",
    "feature:l2": "L2-normalised queries and keys (stable delta-rule updates)",
    "feature:taylor": "second-order Taylor expansion of exp(q·k) on a small projection (Based)",
    "feature:softmax": "softmax over the feature dimension of each head (a positive, normalised map)",
    # memory update rules
    "rule:additive": "S_t = S_{t-1} + k v^T: linear attention, never forgets",
    "rule:fixed_decay": "S_t = γ S_{t-1} + k v^T with a fixed per-head decay (RetNet)",
    "rule:scalar_decay": "data-dependent scalar decay per head and token (Mamba2/SSD)",
    "rule:vector_decay": "data-dependent decay per key channel (GLA, HGRN2, RWKV-6)",
    "rule:delta": "delta rule: S_t = (I - β k k^T) S_{t-1} + β k v^T, overwrites the stored value of k",
    "rule:gated_delta": "delta rule with a data-dependent scalar decay (Gated DeltaNet)",
    "rule:negative_delta": "delta rule with β in (0, 2): negative eigenvalues, state tracking",
    "rule:multi_step_delta": "several delta steps per token (DeltaProduct): richer state transitions",
    "global:softmax": "causal softmax attention over the whole sequence (quadratic; references only)",
    # convolutions and local paths
    "conv:short": "short causal depthwise convolution (kernel ~4) on q/k/v",
    "conv:multiscale_fir": "parallel causal depthwise FIR filters of several lengths on the values",
    "local:sliding_window": "exact softmax attention inside a causal sliding window (chunked, linear cost)",
    # fusion of several paths
    "fusion:sum": "paths summed with learned per-head scales",
    "fusion:router": "softmax router over paths, per head and token",
    "fusion:sigmoid_gates": "independent sigmoid gate per path, per head and token",
    "fusion:floor": "a learned minimum weight per path so no path starves",
    "fusion:temperature": "learned temperature sharpening or flattening the router",
    "hybrid:headwise": "different memory rules on different heads",
    # normalisation, gating, skip
    "norm:head_rms": "RMSNorm of each head's output",
    "gate:output": "output gate, identity at initialisation",
    "skip:value": "direct skip of the values into the output (Mamba's D term)",
}


def unknown_motifs(names: list[str]) -> list[str]:
    """The names in ``names`` that are not in the vocabulary (to reject a misspelt entry early)."""
    return [name for name in names if name not in MOTIFS]
