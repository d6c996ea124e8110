"""The pure-PyTorch stand-ins for flash-linear-attention names, and how candidates are served them."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from asiarch.arch.contract import FLA_IMPORT_ROOTS
from asiarch.arch.fla_compat import SERVED_MODULES
from asiarch.arch.fla_compat.layers.utils import (
    get_unpad_data,
    index_first_axis,
    pad_input,
)
from asiarch.arch.fla_compat.modules import FusedRMSNormGated, RMSNorm, ShortConvolution
from asiarch.arch.fla_compat.modules.l2norm import l2norm
from asiarch.arch.loader import CandidateError, load_candidate

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "asi_arch_deltanet.py"


def test_rmsnorm_matches_the_formula() -> None:
    torch.manual_seed(0)
    norm = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 5, 16)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected)

    residual = torch.randn(3, 5, 16)
    out, total = norm(x, residual=residual, prenorm=True)
    torch.testing.assert_close(total, x + residual)
    torch.testing.assert_close(out, norm(x + residual))


@pytest.mark.parametrize(("activation", "gate_fn"), [("swish", F.silu), ("silu", F.silu), ("sigmoid", torch.sigmoid)])
def test_gated_rmsnorm_is_rmsnorm_times_activated_gate(activation: str, gate_fn) -> None:
    torch.manual_seed(0)
    x, g = torch.randn(2, 4, 2, 8), torch.randn(2, 4, 2, 8)
    gated = FusedRMSNormGated(8, activation=activation)
    torch.testing.assert_close(gated(x, g), RMSNorm(8)(x) * gate_fn(g))


def test_rmsnorm_keeps_low_precision_dtype() -> None:
    x = torch.randn(2, 3, 8, dtype=torch.bfloat16)
    assert RMSNorm(8)(x).dtype == torch.bfloat16


def test_short_convolution_matches_a_direct_conv_and_is_causal() -> None:
    torch.manual_seed(0)
    conv = ShortConvolution(hidden_size=6, kernel_size=4, bias=True, activation=None)
    x = torch.randn(2, 11, 6)
    y, state = conv(x)
    direct = F.conv1d(x.transpose(1, 2), conv.weight, conv.bias, padding=3, groups=6)[..., :11].transpose(1, 2)
    torch.testing.assert_close(y, direct)
    assert state is None

    perturbed = x.clone()
    perturbed[:, 7:] += 1.0
    y_perturbed, _ = conv(perturbed)
    torch.testing.assert_close(y_perturbed[:, :7], y[:, :7])
    assert not torch.allclose(y_perturbed[:, 7:], y[:, 7:])


def test_short_convolution_activation_and_residual() -> None:
    conv = ShortConvolution(hidden_size=4, kernel_size=3, activation="silu")
    x, residual = torch.randn(1, 5, 4), torch.randn(1, 5, 4)
    linear = F.conv1d(x.transpose(1, 2), conv.weight, None, padding=2, groups=4)[..., :5].transpose(1, 2)
    y, _ = conv(x, residual=residual)
    torch.testing.assert_close(y, F.silu(linear) + residual)


def test_short_convolution_cache_continues_a_sequence() -> None:
    torch.manual_seed(0)
    conv = ShortConvolution(hidden_size=5, kernel_size=4)
    x = torch.randn(2, 9, 5)
    full, final = conv(x, output_final_state=True)
    head, state = conv(x[:, :6], output_final_state=True)
    tail, state = conv(x[:, 6:], cache=state, output_final_state=True)
    torch.testing.assert_close(torch.cat([head, tail], dim=1), full)
    assert state.shape == (2, 5, 4)
    torch.testing.assert_close(state, x[:, -4:].transpose(1, 2))
    torch.testing.assert_close(final, state)


def test_short_convolution_restarts_at_packed_sequence_boundaries() -> None:
    torch.manual_seed(0)
    conv = ShortConvolution(hidden_size=3, kernel_size=3)
    a, b = torch.randn(1, 4, 3), torch.randn(1, 6, 3)
    packed, states = conv(torch.cat([a, b], dim=1), cu_seqlens=torch.tensor([0, 4, 10]), output_final_state=True)
    torch.testing.assert_close(packed, torch.cat([conv(a)[0], conv(b)[0]], dim=1))
    assert states.shape == (2, 3, 3)


def test_short_convolution_mask_zeroes_padded_inputs() -> None:
    conv = ShortConvolution(hidden_size=3, kernel_size=2, activation=None)
    x = torch.randn(1, 5, 3)
    mask = torch.tensor([[0, 0, 1, 1, 1]])
    masked, _ = conv(x, mask=mask)
    zeroed, _ = conv(x * mask.unsqueeze(-1))
    torch.testing.assert_close(masked, zeroed)


def test_short_convolution_is_a_conv1d_like_fla() -> None:
    conv = ShortConvolution(hidden_size=8, kernel_size=4, bias=False)
    assert isinstance(conv, torch.nn.Conv1d)
    assert conv.weight.shape == (8, 1, 4) and conv.bias is None


def test_l2norm_gives_unit_rows() -> None:
    x = torch.randn(4, 7, 16) * 10
    norms = l2norm(x).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert torch.isfinite(l2norm(torch.zeros(2, 3))).all()


def test_get_unpad_data_is_consistent_with_the_mask() -> None:
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    indices, cu_seqlens, max_len = get_unpad_data(mask)
    assert indices.tolist() == [0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert cu_seqlens.tolist() == [0, 3, 7, 12] and cu_seqlens.dtype == torch.int32
    assert max_len == 5


def test_unpad_then_pad_restores_the_tensor() -> None:
    torch.manual_seed(0)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    x = torch.randn(2, 6, 3, 4) * mask[:, :, None, None]
    indices, _, _ = get_unpad_data(mask)
    packed = index_first_axis(x.reshape(12, 3, 4), indices)
    assert packed.shape == (8, 3, 4)
    torch.testing.assert_close(pad_input(packed, indices, 2, 6), x)


def test_pad_input_passes_gradients_only_to_real_tokens() -> None:
    mask = torch.tensor([[1, 0, 1]])
    indices, _, _ = get_unpad_data(mask)
    packed = torch.randn(2, 5, requires_grad=True)
    pad_input(packed, indices, 1, 3).sum().backward()
    torch.testing.assert_close(packed.grad, torch.ones(2, 5))


def test_served_names_match_the_contract() -> None:
    assert set(SERVED_MODULES) == set(FLA_IMPORT_ROOTS)


def test_every_import_form_resolves_to_the_stand_ins(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "imports.py"
    path.write_text(
        textwrap.dedent(
            """
            import fla
            import fla.modules.l2norm
            import fla.layers.utils as layer_utils
            from fla import modules
            from fla.modules import RMSNorm, ShortConvolution
            from fla.modules.l2norm import l2norm
            from fla.layers.utils import get_unpad_data

            import torch.nn as nn

            class Mixer(nn.Module):
                def __init__(self, d_model, num_heads):
                    super().__init__()
            """
        )
    )
    namespace = vars(load_candidate(path, fla_backend="shim").module)
    assert namespace["fla"].modules.l2norm.l2norm is l2norm is namespace["l2norm"]
    assert namespace["layer_utils"].get_unpad_data is get_unpad_data is namespace["get_unpad_data"]
    assert namespace["modules"].RMSNorm is RMSNorm is namespace["RMSNorm"]
    assert "fla" not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("fla") is not None, reason="the real flash-linear-attention is installed")
def test_asking_for_the_real_fla_without_it_is_a_clear_import_error() -> None:
    with pytest.raises(CandidateError) as caught:
        load_candidate(EXAMPLE, fla_backend="real")
    assert caught.value.kind == "import"
    assert "No module named 'fla'" in str(caught.value)
