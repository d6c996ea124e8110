"""The candidate contract (DESIGN §2) as code, so every other module checks one definition.

A candidate is one Python source file. Its layer is either

- ``class Mixer(nn.Module)`` — this project's format: ``Mixer(d_model, num_heads, **kwargs)`` and
  ``forward(x)`` with ``x`` of shape (batch, seq_len, d_model) returning ``y`` of the same shape, or
  ``(y, aux_loss)`` with ``aux_loss`` a scalar added to the training loss; or
- ``class DeltaNet(nn.Module)`` — ASI-Arch's format, in the flash-linear-attention style:
  ``DeltaNet(hidden_size=..., num_heads=..., **kwargs)`` and
  ``forward(hidden_states, attention_mask=None, past_key_values=None, use_cache=False,
  output_attentions=False, **kwargs) -> (o, attentions_or_None, past_key_values)``.

The loader (``asiarch.arch.loader``) turns either into a module that obeys the ``Mixer`` form.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import torch

CONTRACT_CLASS = "Mixer"
ASI_ARCH_CLASS = "DeltaNet"

ALLOWED_IMPORT_ROOTS: frozenset[str] = frozenset(
    {"torch", "einops", "math", "typing", "dataclasses", "functools", "__future__", "asiarch.ops"}
)
"""Modules (and everything below them) that any candidate may import.

``__future__`` is listed because ``from __future__ import annotations`` is a compiler directive, not
a dependency; ASI-Arch files almost all start with it.
"""

FLA_IMPORT_ROOTS: frozenset[str] = frozenset(
    {"fla", "fla.modules", "fla.modules.l2norm", "fla.layers", "fla.layers.utils"}
)
"""flash-linear-attention modules an ASI-Arch-format file may import; on CPU they are served by
``asiarch.arch.fla_compat``. Exact names, not roots: ``fla.ops`` kernels have no CPU form here."""


class MixerModule(Protocol):
    """A built layer: (batch, seq_len, d_model) in, the same shape out, optionally with an aux loss.

    Causality, batch independence, sub-quadratic cost and the parameter budget are part of the
    contract too; they are behaviours, so the Engineer's gates test them instead of a type.
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...


class MixerClass(Protocol):
    """The class a candidate defines: ``Mixer(d_model, num_heads, **kwargs)``, extras defaulted."""

    def __call__(self, d_model: int, num_heads: int, **kwargs: Any) -> MixerModule: ...


def is_allowed_import(module_name: str, *, asi_arch: bool = False) -> bool:
    """True when ``module_name`` is importable by a candidate (fla names only for ASI-Arch files)."""
    if asi_arch and module_name in FLA_IMPORT_ROOTS:
        return True
    return any(module_name == root or module_name.startswith(root + ".") for root in ALLOWED_IMPORT_ROOTS)


def split_output(out: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise a layer's return value to ``(y, aux_loss or None)``.

    Accepts ``y``, ``(y, aux_loss)`` and ASI-Arch's ``(o, attentions, cache)``. The middle slot of
    the ASI-Arch triple is fla's *attentions* output, which fla's language models never add to the
    loss, so it is dropped here even when a file puts a regulariser there: scoring it would change
    what the file was trained on in ASI-Arch.
    """
    if isinstance(out, torch.Tensor):
        return out, None
    if isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], torch.Tensor):
        return out[0], None
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor):
        aux = out[1]
        if aux is None:
            return out[0], None
        if not isinstance(aux, torch.Tensor) or aux.numel() != 1:
            raise TypeError("a mixer returned (y, aux_loss) but aux_loss is not a scalar tensor")
        return out[0], aux.reshape(())
    raise TypeError(f"a mixer must return a tensor, (y, aux_loss) or ASI-Arch's (o, None, cache); got {_describe(out)}")


def _describe(out: object) -> str:
    if isinstance(out, tuple):
        return "tuple(" + ", ".join(type(item).__name__ for item in out) + ")"
    return type(out).__name__
