"""RMS normalisation, plain and output-gated, with fla's constructor and forward signatures.

fla fuses these into Triton kernels that accumulate in float32; here the statistics are computed
in float32 too, so a bfloat16 model normalises the same way on either path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_GATE_ACTIVATIONS = {"swish": F.silu, "silu": F.silu, "sigmoid": torch.sigmoid}


def _rms_normalise(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dim, then the optional affine; float32 inside."""
    x32 = x.float()
    out = x32 * torch.rsqrt(x32.square().mean(dim=-1, keepdim=True) + eps)
    if weight is not None:
        out = out * weight.float()
    if bias is not None:
        out = out + bias.float()
    return out


def _add_residual(x: torch.Tensor, residual: torch.Tensor | None, residual_in_fp32: bool) -> torch.Tensor:
    """fla's pre-norm fusion: normalise x + residual and hand the sum back for the next block."""
    if residual is None:
        return x.float() if residual_in_fp32 else x
    total = x.float() + residual.float()
    return total if residual_in_fp32 else total.to(x.dtype)


class RMSNorm(nn.Module):
    """``fla.modules.RMSNorm(hidden_size, elementwise_affine=True, bias=False, eps=1e-5)``.

    ``forward(x, residual=None, prenorm=False, residual_in_fp32=False)`` returns the normalised
    tensor, or ``(normalised, x + residual)`` when ``prenorm`` is set, as fla's does.
    """

    def __init__(
        self,
        hidden_size: int,
        elementwise_affine: bool = True,
        bias: bool = False,
        eps: float = 1e-5,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.elementwise_affine = elementwise_affine
        self.eps = eps
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.ones(hidden_size, **factory)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(hidden_size, **factory)) if elementwise_affine and bias else None

    def forward(
        self,
        x: torch.Tensor,
        residual: torch.Tensor | None = None,
        prenorm: bool = False,
        residual_in_fp32: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        total = _add_residual(x, residual, residual_in_fp32)
        out = _rms_normalise(total, self.weight, self.bias, self.eps).to(x.dtype)
        return (out, total) if prenorm else out

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class FusedRMSNormGated(nn.Module):
    """``fla.modules.FusedRMSNormGated(hidden_size, elementwise_affine=True, eps=1e-5, activation='swish')``.

    ``forward(x, g)`` = RMSNorm(x) * act(g): the output gate of gated linear-attention layers,
    with act one of swish/silu (the same function) or sigmoid. Residual/prenorm behave as in RMSNorm.
    """

    def __init__(
        self,
        hidden_size: int,
        elementwise_affine: bool = True,
        eps: float = 1e-5,
        activation: str = "swish",
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if activation not in _GATE_ACTIVATIONS:
            raise ValueError(f"unsupported activation {activation!r}; use one of {sorted(_GATE_ACTIVATIONS)}")
        self.hidden_size = hidden_size
        self.elementwise_affine = elementwise_affine
        self.eps = eps
        self.activation = activation
        self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype)) if elementwise_affine else None
        self.bias = None

    def forward(
        self,
        x: torch.Tensor,
        g: torch.Tensor,
        residual: torch.Tensor | None = None,
        prenorm: bool = False,
        residual_in_fp32: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        total = _add_residual(x, residual, residual_in_fp32)
        gate = _GATE_ACTIVATIONS[self.activation](g.float())
        out = (_rms_normalise(total, self.weight, None, self.eps) * gate).to(x.dtype)
        return (out, total) if prenorm else out

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}, activation={self.activation}"
