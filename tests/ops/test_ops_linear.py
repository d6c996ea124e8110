"""Chunked forms against the per-token recurrences, plus causality and strong-decay stability.

The recurrent form is the ground truth: if the chunked form agrees with it to float64 round-off for
ragged lengths, several chunk sizes, strong gates and their gradients, the chunk bookkeeping is right.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from asiarch import ops

Inputs = dict[str, torch.Tensor]
OpCall = Callable[..., torch.Tensor]

BATCH, HEADS, KEY_DIM, VALUE_DIM = 2, 3, 5, 4
LENGTHS = [1, 7, 16, 33, 64, 100]
CHUNK_SIZES = [8, 16, 32]
# Pre-activation shift of the gates: +3 is a slow, init-like decay (log gate ~ -0.05 per step),
# -3 a fast one (~ -3 per step); "strong" also puts beta in (0, 2), the negative-eigenvalue range.
GATE_SHIFT = {"mild": 3.0, "strong": -3.0}
EXTREME_LOG_GATE = -10.0


def make_inputs(
    length: int,
    *,
    variant: str = "mild",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    batch: int = BATCH,
    heads: int = HEADS,
    key_dim: int = KEY_DIM,
    value_dim: int = VALUE_DIM,
) -> Inputs:
    """Inputs preprocessed the way the zoo does it: unit keys, sigmoid betas, logsigmoid gates."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype)

    shape = (batch, heads, length)
    shift = GATE_SHIFT[variant]
    beta_scale = 2.0 if variant == "strong" else 1.0
    q = randn(*shape, key_dim)
    return {
        "q": q,
        "q_pos": F.elu(q) + 1,
        "k": F.normalize(randn(*shape, key_dim), dim=-1),
        "k_pos": F.elu(randn(*shape, key_dim)) + 1,
        "v": randn(*shape, value_dim),
        "beta": beta_scale * torch.sigmoid(randn(*shape)),
        "log_decay": F.logsigmoid(randn(*shape) + shift),
        "log_gate": F.logsigmoid(randn(*shape, key_dim) + shift),
    }


OPS: dict[str, OpCall] = {
    "linear_attention": lambda x, **kw: ops.linear_attention(x["q"], x["k"], x["v"], **kw),
    "linear_attention_normalized": lambda x, **kw: ops.linear_attention(
        x["q_pos"], x["k_pos"], x["v"], normalize=True, **kw
    ),
    "scalar_decay_attention": lambda x, **kw: ops.scalar_decay_attention(x["q"], x["k"], x["v"], x["log_decay"], **kw),
    "gated_linear_attention": lambda x, **kw: ops.gated_linear_attention(x["q"], x["k"], x["v"], x["log_gate"], **kw),
    "delta_rule": lambda x, **kw: ops.delta_rule(x["q"], x["k"], x["v"], x["beta"], **kw),
    "gated_delta_rule": lambda x, **kw: ops.gated_delta_rule(x["q"], x["k"], x["v"], x["beta"], x["log_decay"], **kw),
}
GATED_OPS = ["scalar_decay_attention", "gated_linear_attention", "gated_delta_rule"]


def assert_agree(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-9) -> None:
    """Tolerance relative to the tensor's magnitude: outputs can be O(10) after long accumulation."""
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale)


def with_extreme_gates(inputs: Inputs) -> Inputs:
    return {
        **inputs,
        "log_decay": torch.full_like(inputs["log_decay"], EXTREME_LOG_GATE),
        "log_gate": torch.full_like(inputs["log_gate"], EXTREME_LOG_GATE),
    }


@pytest.mark.parametrize("variant", sorted(GATE_SHIFT))
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", sorted(OPS))
def test_chunk_matches_recurrent(name: str, length: int, chunk_size: int, variant: str) -> None:
    inputs = make_inputs(length, variant=variant)
    expected = OPS[name](inputs, mode="recurrent")
    actual = OPS[name](inputs, mode="chunk", chunk_size=chunk_size)
    assert actual.shape == (BATCH, HEADS, length, VALUE_DIM)
    assert_agree(actual, expected)


@pytest.mark.parametrize("chunk_size", [8, 64])
@pytest.mark.parametrize("name", GATED_OPS)
def test_chunk_matches_recurrent_with_extreme_gates(name: str, chunk_size: int) -> None:
    inputs = with_extreme_gates(make_inputs(50))
    assert_agree(OPS[name](inputs, mode="chunk", chunk_size=chunk_size), OPS[name](inputs, mode="recurrent"))


@pytest.mark.parametrize("variant", sorted(GATE_SHIFT))
@pytest.mark.parametrize(("length", "chunk_size"), [(33, 8), (40, 16)])
@pytest.mark.parametrize("name", sorted(OPS))
def test_gradients_match(name: str, length: int, chunk_size: int, variant: str) -> None:
    def grads(mode: str) -> list[torch.Tensor]:
        inputs = make_inputs(length, variant=variant)
        inputs = {key: t.requires_grad_(True) for key, t in inputs.items()}
        out = OPS[name](inputs, mode=mode, chunk_size=chunk_size)
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
        (out * weights).sum().backward()
        return [t.grad if t.grad is not None else torch.zeros_like(t) for t in inputs.values()]

    for actual, expected in zip(grads("chunk"), grads("recurrent")):
        assert_agree(actual, expected, tol=1e-8)


@pytest.mark.parametrize("mode", ["chunk", "recurrent"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_causal(name: str, mode: str) -> None:
    """Changing every input after step `cut` leaves outputs up to `cut` untouched, even mid-chunk."""
    length, cut = 40, 21
    inputs, other = make_inputs(length), make_inputs(length, seed=1)
    changed = {key: torch.cat([t[:, :, : cut + 1], other[key][:, :, cut + 1 :]], dim=2) for key, t in inputs.items()}
    before = OPS[name](inputs, mode=mode, chunk_size=16)
    after = OPS[name](changed, mode=mode, chunk_size=16)
    assert_agree(after[:, :, : cut + 1], before[:, :, : cut + 1], tol=1e-12)
    assert not torch.allclose(after[:, :, cut + 1 :], before[:, :, cut + 1 :])


@pytest.mark.parametrize("name", sorted(OPS))
def test_batch_independent(name: str) -> None:
    """The Engineer's gate runs each sample alone: it must equal that sample's row of the batch."""
    inputs = make_inputs(37)
    batched = OPS[name](inputs, chunk_size=16)
    for index in range(BATCH):
        alone = OPS[name]({key: t[index : index + 1] for key, t in inputs.items()}, chunk_size=16)
        assert_agree(alone, batched[index : index + 1], tol=1e-12)


@pytest.mark.parametrize("name", GATED_OPS)
def test_finite_with_extreme_gates_float32(name: str) -> None:
    inputs = {
        key: t.requires_grad_(True)
        for key, t in with_extreme_gates(make_inputs(512, dtype=torch.float32, batch=1, heads=2)).items()
    }
    out = OPS[name](inputs, mode="chunk", chunk_size=64)
    out.square().sum().backward()
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    for key, tensor in inputs.items():
        assert tensor.grad is None or torch.isfinite(tensor.grad).all(), key


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_close_to_float64(name: str) -> None:
    inputs64 = make_inputs(100, variant="strong")
    inputs32 = {key: t.float() for key, t in inputs64.items()}
    out32 = OPS[name](inputs32, chunk_size=32)
    assert out32.dtype == torch.float32
    assert_agree(out32.double(), OPS[name](inputs64, mode="recurrent"), tol=1e-4)


@pytest.mark.parametrize("name", sorted(OPS))
def test_long_sequence(name: str) -> None:
    """T = 4096 (64 chunks): errors must not build up across the carried state."""
    inputs = make_inputs(4096, batch=1, heads=1, key_dim=4, value_dim=3)
    assert_agree(OPS[name](inputs, mode="chunk"), OPS[name](inputs, mode="recurrent"))


class _ElementCounter(TorchDispatchMode):
    """Elements written by every op, the backward pass included."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's protocol
        out = func(*args, **(kwargs or {}))
        self.written += sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
        return out


@pytest.mark.parametrize("name", sorted(OPS))
def test_a_training_step_does_work_linear_in_the_number_of_chunks(name: str) -> None:
    """Autograd of indexing one chunk at a time writes a full-size zero gradient per chunk: quadratic work in
    the backward pass that the chunked forms must not do (16 to 64 chunks here)."""

    def written(length: int) -> int:
        inputs = {key: t.requires_grad_(True) for key, t in make_inputs(length, batch=1, heads=1).items()}
        with _ElementCounter() as counter:
            OPS[name](inputs, mode="chunk", chunk_size=8).sum().backward()
        return counter.written

    assert written(512) / written(128) < 4.4
