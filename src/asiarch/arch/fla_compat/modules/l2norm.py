"""Stand-in for ``fla.modules.l2norm``: unit-length rows for delta-rule keys and queries.

The delta rule's update is only a contraction when ||k|| <= 1, which is why ASI-Arch files normalise
q and k with this. Same formula as fla's kernel: x / sqrt(sum(x^2) + eps), in float32.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["L2Norm", "l2norm"]


def l2norm(x: torch.Tensor, eps: float = 1e-6, output_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Normalise the last dimension of ``x`` to unit Euclidean length."""
    x32 = x.float()
    out = x32 * torch.rsqrt(x32.square().sum(dim=-1, keepdim=True) + eps)
    return out.to(output_dtype or x.dtype)


class L2Norm(nn.Module):
    """Module form of :func:`l2norm`, exported by ``fla.modules``."""

    def __init__(self, eps: float = 1e-6, output_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.output_dtype = output_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return l2norm(x, self.eps, self.output_dtype)
