"""Stand-in for ``fla.modules.ShortConvolution``: a causal depthwise convolution over (B, T, D).

Short convolutions give q, k and v a few tokens of local context before the recurrence; almost
every ASI-Arch layer has three of them. fla's class subclasses ``nn.Conv1d`` (weight of shape
(D, 1, W)) and its forward returns ``(y, final_state)``; this one keeps both so files that call it,
or read ``.weight``/``.kernel_size``, behave the same.

The state, as in fla, is the last W inputs of each sequence, shape (N, D, W). Unlike fla's decoding
kernel, a passed ``cache`` is read, never updated in place: the new state is only returned.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from asiarch.ops import causal_conv1d


def _conv_with_state(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, initial: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal depthwise conv of x (B, T, D) with weight (D, W), continuing from ``initial`` (B, D, W).

    The W-1 most recent inputs of ``initial`` (zeros when it is None) stand before x, so
    y_t = bias + sum_j weight[:, W-1-j] * x_{t-j} reaches back into the previous chunk; the first
    W-1 outputs, which belong to that history, are dropped. Returns (y, last W inputs).
    """
    batch, _, channels = x.shape
    width = weight.shape[-1]
    if initial is None:
        history = x.new_zeros(batch, width, channels)
    else:
        history = initial.transpose(1, 2).to(x.dtype)
    extended = torch.cat([history, x], dim=1)
    y = causal_conv1d(extended[:, 1:], weight, bias)[:, width - 1 :]
    return y, extended[:, -width:].transpose(1, 2)


class ShortConvolution(nn.Conv1d):
    """``ShortConvolution(hidden_size, kernel_size, bias=False, activation='silu')``.

    ``forward(x, residual=None, mask=None, cache=None, output_final_state=False, cu_seqlens=None)``
    returns ``(y, final_state or None)``. ``mask`` (B, T) zeroes padded inputs; ``cu_seqlens``
    (N + 1 offsets, batch of 1) restarts the convolution at each packed sequence's start so no
    token sees the previous sequence; ``residual`` is added after the activation. ``backend`` and
    other fla keywords are accepted and ignored: there is one pure-PyTorch path.
    """

    def __init__(
        self,
        hidden_size: int,
        kernel_size: int,
        bias: bool = False,
        activation: str | None = "silu",
        backend: str | None = "triton",
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels=hidden_size,
            out_channels=hidden_size,
            kernel_size=kernel_size,
            groups=hidden_size,
            bias=bias,
            padding=kernel_size - 1,
            device=device,
            dtype=dtype,
        )
        if activation not in (None, "silu", "swish"):
            raise ValueError(f"activation {activation!r} not supported; use 'silu', 'swish' or None")
        self.hidden_size = hidden_size
        self.activation = activation
        self.backend = backend

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        residual: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        cache: torch.Tensor | None = None,
        output_final_state: bool = False,
        cu_seqlens: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if mask is not None:
            if cu_seqlens is not None:
                raise ValueError("`mask` and `cu_seqlens` cannot both be given")
            x = x * mask.unsqueeze(-1).to(x.dtype)
        weight = self.weight[:, 0, :]
        if cu_seqlens is None:
            y, state = _conv_with_state(x, weight, self.bias, cache)
        else:
            y, state = self._packed(x, weight, cu_seqlens, cache)
        if self.activation is not None:
            y = F.silu(y)
        if residual is not None:
            y = y + residual
        return y, (state if output_final_state else None)

    def _packed(
        self, x: torch.Tensor, weight: torch.Tensor, cu_seqlens: torch.Tensor, cache: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolve each packed sequence of a (1, total, D) tensor separately."""
        if x.shape[0] != 1:
            raise ValueError(f"with cu_seqlens the batch size must be 1, got {x.shape[0]}")
        bounds = cu_seqlens.tolist()
        outputs, states = [], []
        for n, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
            initial = None if cache is None else cache[n : n + 1]
            y, state = _conv_with_state(x[:, start:end], weight, self.bias, initial)
            outputs.append(y)
            states.append(state)
        return torch.cat(outputs, dim=1), torch.cat(states, dim=0)

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, kernel_size={self.kernel_size[0]}, activation={self.activation}"
