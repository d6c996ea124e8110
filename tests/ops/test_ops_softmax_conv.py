"""Softmax attention and the short causal convolution against their naive reference forms."""

from __future__ import annotations

import pytest
import torch

from asiarch import ops


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("length", [1, 9, 40])
def test_softmax_attention_matches_reference(length: int) -> None:
    q, k, v = randn(2, 3, length, 8, seed=0), randn(2, 3, length, 8, seed=1), randn(2, 3, length, 5, seed=2)
    torch.testing.assert_close(ops.softmax_attention(q, k, v), ops.softmax_attention_reference(q, k, v))


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize(("length", "kernel_size"), [(1, 4), (3, 4), (20, 4), (20, 1), (12, 7)])
def test_causal_conv1d_matches_reference(length: int, kernel_size: int, with_bias: bool) -> None:
    x, weight = randn(2, length, 6, seed=0), randn(6, kernel_size, seed=1)
    bias = randn(6, seed=2) if with_bias else None
    expected = ops.causal_conv1d_reference(x, weight, bias)
    torch.testing.assert_close(ops.causal_conv1d(x, weight, bias), expected)


def test_causal_conv1d_orientation() -> None:
    """The last kernel tap multiplies the current token, the first tap the oldest one."""
    x = torch.zeros(1, 5, 1, dtype=torch.float64)
    x[0, 1, 0] = 1.0
    weight = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    assert ops.causal_conv1d(x, weight)[0, :, 0].tolist() == [0.0, 3.0, 2.0, 1.0, 0.0]


def test_softmax_attention_causal() -> None:
    cut = 10
    q, k, v = (randn(1, 2, 24, 4, seed=s) for s in range(3))
    before = ops.softmax_attention(q, k, v)
    after = ops.softmax_attention(q, k + future_bump(k, cut, dim=2), v + future_bump(v, cut, dim=2))
    torch.testing.assert_close(after[:, :, : cut + 1], before[:, :, : cut + 1])
    assert not torch.allclose(after, before)


def test_causal_conv1d_causal() -> None:
    cut = 10
    x, weight = randn(2, 24, 3, seed=0), randn(3, 4, seed=1)
    before = ops.causal_conv1d(x, weight)
    after = ops.causal_conv1d(x + future_bump(x, cut, dim=1), weight)
    torch.testing.assert_close(after[:, : cut + 1], before[:, : cut + 1])
    assert not torch.allclose(after, before)


def future_bump(x: torch.Tensor, cut: int, *, dim: int) -> torch.Tensor:
    """A perturbation that is zero up to step `cut` and one after it."""
    steps = torch.arange(x.shape[dim]).view([-1 if d == dim else 1 for d in range(x.dim())])
    return (steps > cut).to(x.dtype)


@pytest.mark.parametrize(("length", "window"), [(1, 4), (7, 4), (16, 4), (37, 8), (20, 1), (5, 64)])
def test_sliding_window_attention_matches_reference(length: int, window: int) -> None:
    q, k, v = randn(2, 3, length, 8, seed=0), randn(2, 3, length, 8, seed=1), randn(2, 3, length, 5, seed=2)
    expected = ops.sliding_window_attention(q, k, v, window, mode="recurrent")
    torch.testing.assert_close(ops.sliding_window_attention(q, k, v, window), expected)


def test_sliding_window_attention_sees_exactly_the_window() -> None:
    """Token t is moved by token t - window + 1 and not by token t - window."""
    window, length = 4, 12
    q, k, v = (randn(1, 1, length, 4, seed=s) for s in range(3))
    base = ops.sliding_window_attention(q, k, v, window)
    for source in (3, 4):
        changed = v.clone()
        changed[:, :, source] += 1.0
        moved = (ops.sliding_window_attention(q, k, changed, window) - base).abs().sum(-1)[0, 0]
        assert moved[source + window - 1] > 0
        assert moved[source + window] == 0
        assert moved[:source].abs().sum() == 0


def test_sliding_window_attention_equals_full_attention_when_window_covers_sequence() -> None:
    q, k, v = (randn(2, 2, 10, 4, seed=s) for s in range(3))
    torch.testing.assert_close(ops.sliding_window_attention(q, k, v, 16), ops.softmax_attention(q, k, v))
