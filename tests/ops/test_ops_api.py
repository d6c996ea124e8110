"""The public call surface: validation, broadcasting, dtypes, and the GLA sub-chunk knob."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from asiarch import ops
from asiarch.ops.reference import gated_linear_attention_recurrent
from asiarch.ops.reference_chunked import gated_linear_attention_chunk

BATCH, HEADS, LENGTH, KEY_DIM, VALUE_DIM = 2, 3, 19, 4, 6


def qkv(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(BATCH, HEADS, LENGTH, KEY_DIM, generator=gen, dtype=dtype)
    k = F.normalize(torch.randn(BATCH, HEADS, LENGTH, KEY_DIM, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(BATCH, HEADS, LENGTH, VALUE_DIM, generator=gen, dtype=dtype)
    return q, k, v


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_per_head_decay_broadcasts(mode: str) -> None:
    """RetNet passes one fixed decay per head; (H,) and (1, H, 1) must mean the same as the full tensor."""
    q, k, v = qkv()
    per_head = -torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64)
    full = per_head.view(1, HEADS, 1).expand(BATCH, HEADS, LENGTH)
    expected = ops.scalar_decay_attention(q, k, v, full, mode=mode, chunk_size=8)
    for shape in [(HEADS,), (1, HEADS, 1)]:
        actual = ops.scalar_decay_attention(q, k, v, per_head.view(shape), mode=mode, chunk_size=8)
        torch.testing.assert_close(actual, expected)


def test_chunk_size_longer_than_sequence() -> None:
    q, k, v = qkv()
    beta = torch.full((BATCH, HEADS, LENGTH), 0.5, dtype=torch.float64)
    torch.testing.assert_close(
        ops.delta_rule(q, k, v, beta, chunk_size=256), ops.delta_rule(q, k, v, beta, mode="recurrent")
    )


@pytest.mark.parametrize(("chunk_size", "sub_chunk_size"), [(24, 16), (16, 1), (33, 8), (64, 64)])
def test_gla_any_sub_chunk_size(chunk_size: int, sub_chunk_size: int) -> None:
    """Sub-chunks that do not divide the chunk fall back to the largest divisor, never to wrong answers."""
    q, k, v = qkv()
    gen = torch.Generator().manual_seed(2)
    log_gate = F.logsigmoid(torch.randn(q.shape, dtype=torch.float64, generator=gen))
    actual = gated_linear_attention_chunk(q, k, v, log_gate, chunk_size=chunk_size, sub_chunk_size=sub_chunk_size)
    torch.testing.assert_close(actual, gated_linear_attention_recurrent(q, k, v, log_gate))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
def test_output_dtype_follows_v(dtype: torch.dtype, mode: str) -> None:
    q, k, v = qkv(dtype)
    beta = torch.full((BATCH, HEADS, LENGTH), 0.5, dtype=dtype)
    log_decay = torch.full((BATCH, HEADS, LENGTH), -0.1, dtype=dtype)
    out = ops.gated_delta_rule(q, k, v, beta, log_decay, mode=mode, chunk_size=8)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()


def test_rejects_bad_arguments() -> None:
    q, k, v = qkv()
    beta = torch.rand(BATCH, HEADS, LENGTH, dtype=torch.float64)
    with pytest.raises(ValueError, match="mode"):
        ops.delta_rule(q, k, v, beta, mode="parallel")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        ops.delta_rule(q, k, v, beta, chunk_size=0)
    with pytest.raises(ValueError, match="k must match"):
        ops.linear_attention(q, k[..., :2], v)
    with pytest.raises(ValueError, match="v must be"):
        ops.linear_attention(q, k, v[:, :, :3])
    with pytest.raises(ValueError, match="beta"):
        ops.delta_rule(q, k, v, beta[..., None])
    with pytest.raises(ValueError, match="log_gate"):
        ops.gated_linear_attention(q, k, v, beta)
    with pytest.raises(ValueError, match="log_decay"):
        ops.scalar_decay_attention(q, k, v, torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="weight"):
        ops.causal_conv1d(torch.randn(2, 5, 3), torch.randn(4, 3))
