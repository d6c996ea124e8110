"""flash-linear-attention's Triton kernels behind the ops, on CUDA, when they can run here.

The pure-PyTorch chunked forms are the definition; a kernel is only a faster way to compute the same
thing, so every kernel here is tested against them (tests/ops/test_kernels.py, GPU-marked). A kernel
is used when the tensors are on CUDA, kernels are enabled (``use_kernels``), flash-linear-attention
imports, and its Triton can run its gated kernels on this GPU: on Hopper (compute capability 9.x)
they need Triton ≥ 3.7.1 and raise otherwise. If a kernel fails at run time anyway, it is switched
off for the rest of the process with one warning and the PyTorch form answers instead.

Layouts: the ops take (B, H, T, D); flash-linear-attention takes (B, T, H, D). Callers scale q
themselves, so the kernels get ``scale=1``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor

MIN_TRITON_ON_HOPPER = (3, 7, 1)
HOPPER_MAJOR = 9
FLA_FUNCTIONS = {
    "linear_attention": ("fla.ops.linear_attn", "chunk_linear_attn"),
    "scalar_decay_attention": ("fla.ops.simple_gla", "chunk_simple_gla"),
    "gated_linear_attention": ("fla.ops.gla", "chunk_gla"),
    "delta_rule": ("fla.ops.delta_rule", "chunk_delta_rule"),
    "gated_delta_rule": ("fla.ops.gated_delta_rule", "chunk_gated_delta_rule"),
}

_enabled = True
_broken: dict[str, str] = {}


@dataclass(frozen=True)
class KernelStatus:
    """Whether the kernels can serve a device, and if not, why (one line for logs and benchmarks)."""

    available: bool
    reason: str


def use_kernels(enabled: bool) -> None:
    """Switch kernel dispatch on or off for this process (``train.kernels``)."""
    global _enabled
    _enabled = enabled


def status(device: torch.device | str) -> KernelStatus:
    """Can the kernels run on ``device``?"""
    device = torch.device(device)
    if not _enabled:
        return KernelStatus(False, "kernels are switched off (train.kernels: false)")
    if device.type != "cuda":
        return KernelStatus(False, f"tensors are on {device.type}; the kernels are for CUDA")
    return _cuda_status(device.index if device.index is not None else torch.cuda.current_device())


@cache
def _cuda_status(index: int) -> KernelStatus:
    try:
        triton = importlib.import_module("triton")
        importlib.import_module("fla.ops")
    except Exception as exc:  # noqa: BLE001 - any import failure means: use the PyTorch forms
        return KernelStatus(False, f"flash-linear-attention is not usable ({type(exc).__name__}: {exc}); "
                                   "install the [gpu] extra")  # fmt: skip
    major, minor = torch.cuda.get_device_capability(index)
    found = triton_version(triton.__version__)
    if major == HOPPER_MAJOR and found < MIN_TRITON_ON_HOPPER:
        wanted = ".".join(map(str, MIN_TRITON_ON_HOPPER))
        return KernelStatus(False, f"Triton {triton.__version__} is too old for flash-linear-attention's gated "
                                   f"kernels on this sm_{major}{minor} GPU (needs >= {wanted}); upgrade triton")  # fmt: skip
    return KernelStatus(True, f"flash-linear-attention kernels on sm_{major}{minor}, Triton {triton.__version__}")


def triton_version(text: str) -> tuple[int, ...]:
    """``"3.7.1+git1234"`` → (3, 7, 1): the numeric release, for comparisons."""
    numbers = []
    for part in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def kernel(op: str, like: Tensor) -> Callable[..., Tensor] | None:
    """The kernel adapter for ``op`` (taking the ops' layout) if one should serve tensors like ``like``."""
    if op in _broken or not status(like.device).available:
        return None
    return _adapter(op)


@cache
def _adapter(op: str) -> Callable[..., Tensor | None]:
    """Built once per op: ``kernel`` sits on the hot path of every chunked op call on CUDA."""
    module, name = FLA_FUNCTIONS[op]
    return _guarded(op, ADAPTERS[op](getattr(importlib.import_module(module), name)))


def _guarded(op: str, adapter: Callable[..., Tensor]) -> Callable[..., Tensor | None]:
    def call(*args: Tensor, **kwargs: object) -> Tensor | None:
        try:
            return adapter(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - fall back to the definition, once, loudly
            _broken[op] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"asiarch.ops: the {op} kernel failed ({_broken[op]}); using the PyTorch form from now on",
                  file=sys.stderr)  # fmt: skip
            return None

    return call


def _t(x: Tensor) -> Tensor:
    """(B, H, T, …) ⇄ (B, T, H, …), for inputs and per-token gates alike."""
    return x.transpose(1, 2).contiguous()


def _linear_attention(function: Callable) -> Callable[..., Tensor]:
    def run(q: Tensor, k: Tensor, v: Tensor, *, normalize: bool, eps: float) -> Tensor:
        o, _ = function(_t(q), _t(k), _t(v), scale=1.0, normalize=False)
        o = _t(o)
        if normalize:  # the ops' own normaliser (its eps), which is cheap next to the kernel
            z = (q * k.cumsum(dim=2)).sum(dim=-1, keepdim=True)
            o = o / (z + eps)
        return o.to(v.dtype)

    return run


def _scalar_decay(function: Callable) -> Callable[..., Tensor]:
    def run(q: Tensor, k: Tensor, v: Tensor, log_decay: Tensor) -> Tensor:
        o, _ = function(_t(q), _t(k), _t(v), g=_t(log_decay).float(), scale=1.0)
        return _t(o).to(v.dtype)

    return run


def _gated_linear(function: Callable) -> Callable[..., Tensor]:
    def run(q: Tensor, k: Tensor, v: Tensor, log_gate: Tensor) -> Tensor:
        o, _ = function(_t(q), _t(k), _t(v), g=_t(log_gate).float(), scale=1.0)
        return _t(o).to(v.dtype)

    return run


def _delta(function: Callable) -> Callable[..., Tensor]:
    def run(q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
        o, _ = function(_t(q), _t(k), _t(v), beta=_t(beta).to(q.dtype), scale=1.0)
        return _t(o).to(v.dtype)

    return run


def _gated_delta(function: Callable) -> Callable[..., Tensor]:
    def run(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, log_decay: Tensor) -> Tensor:
        o, _ = function(_t(q), _t(k), _t(v), g=_t(log_decay).float(), beta=_t(beta).to(q.dtype), scale=1.0)
        return _t(o).to(v.dtype)

    return run


ADAPTERS: dict[str, Callable[[Callable], Callable[..., Tensor]]] = {
    "linear_attention": _linear_attention,
    "scalar_decay_attention": _scalar_decay,
    "gated_linear_attention": _gated_linear,
    "delta_rule": _delta,
    "gated_delta_rule": _gated_delta,
}
