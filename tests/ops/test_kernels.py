"""flash-linear-attention kernels behind asiarch.ops: when they serve, and that they agree with the PyTorch forms.

The agreement tests need CUDA and flash-linear-attention (the [gpu] extra); elsewhere they are skipped and
the dispatch tests check that the PyTorch forms answer, with the reason the kernels do not.
"""

import pytest
import torch
import torch.nn.functional as F

from asiarch import ops
from asiarch.ops import kernels
from asiarch.ops import reference_chunked as chk


@pytest.fixture(autouse=True)
def _kernels_on():
    kernels.use_kernels(True)
    yield
    kernels.use_kernels(True)


def test_cpu_tensors_never_reach_a_kernel_and_say_why():
    found = kernels.status("cpu")
    assert not found.available and "CUDA" in found.reason
    assert kernels.kernel("delta_rule", torch.zeros(1)) is None


def test_switched_off_kernels_say_so():
    kernels.use_kernels(False)
    assert kernels.status("cuda").reason == "kernels are switched off (train.kernels: false)"


@pytest.mark.parametrize("text,expected", [("3.7.1", (3, 7, 1)), ("3.4.0+git9a1b", (3, 4, 0)), ("3.10", (3, 10))])
def test_triton_versions_compare_as_numbers(text, expected):
    assert kernels.triton_version(text) == expected
    assert (kernels.triton_version("3.10.0") >= kernels.MIN_TRITON_ON_HOPPER) is True


def _inputs(device: str, dtype: torch.dtype, batch: int = 2, heads: int = 2, length: int = 128, dim: int = 32):
    generator = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device=device, dtype=dtype).requires_grad_()

    q = randn(batch, heads, length, dim)
    k = F.normalize(torch.randn(batch, heads, length, dim, generator=generator), dim=-1)
    k = k.to(device=device, dtype=dtype).requires_grad_()
    v = randn(batch, heads, length, dim)
    beta = torch.rand(batch, heads, length, generator=generator).to(device=device, dtype=dtype).requires_grad_()
    decay = F.logsigmoid(torch.randn(batch, heads, length, generator=generator) + 3).to(device).requires_grad_()
    gate = F.logsigmoid(torch.randn(batch, heads, length, dim, generator=generator) + 3).to(device).requires_grad_()
    return q, k, v, beta, decay, gate


CASES = {
    "linear_attention": (lambda q, k, v, b, d, g: ops.linear_attention(q, k, v),
                         lambda q, k, v, b, d, g: chk.linear_attention_chunk(q, k, v, normalize=False, eps=1e-6,
                                                                               chunk_size=32)),
    "scalar_decay_attention": (lambda q, k, v, b, d, g: ops.scalar_decay_attention(q, k, v, d),
                               lambda q, k, v, b, d, g: chk.scalar_decay_attention_chunk(q, k, v, d, chunk_size=32)),
    "gated_linear_attention": (lambda q, k, v, b, d, g: ops.gated_linear_attention(q, k, v, g),
                               lambda q, k, v, b, d, g: chk.gated_linear_attention_chunk(q, k, v, g, chunk_size=64)),
    "delta_rule": (lambda q, k, v, b, d, g: ops.delta_rule(q, k, v, b),
                   lambda q, k, v, b, d, g: chk.delta_rule_chunk(q, k, v, b, chunk_size=32)),
    "gated_delta_rule": (lambda q, k, v, b, d, g: ops.gated_delta_rule(q, k, v, b, d),
                         lambda q, k, v, b, d, g: chk.gated_delta_rule_chunk(q, k, v, b, d, chunk_size=32)),
}  # fmt: skip


@pytest.mark.gpu
@pytest.mark.parametrize("op", sorted(CASES))
def test_each_kernel_agrees_with_the_pytorch_form_forward_and_backward(op):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    found = kernels.status("cuda")
    if not found.available:
        pytest.skip(found.reason)
    through_ops, by_definition = CASES[op]
    inputs = _inputs("cuda", torch.float32)
    fast = through_ops(*inputs)
    fast.square().sum().backward()
    fast_grads = [x.grad.clone() for x in inputs if x.grad is not None]
    for x in inputs:
        x.grad = None
    slow = by_definition(*inputs)
    slow.square().sum().backward()
    slow_grads = [x.grad for x in inputs if x.grad is not None]
    assert kernels.kernel(op, inputs[0]) is not None, f"{op} fell back to the PyTorch form"
    torch.testing.assert_close(fast, slow, rtol=2e-3, atol=2e-3)
    for fast_grad, slow_grad in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(fast_grad, slow_grad, rtol=5e-3, atol=5e-3)
