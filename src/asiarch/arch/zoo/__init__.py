"""The reference architectures (baseline zoo): what 'normal' means at every stage.

Conventions shared by all references (see ``base``): short causal convolutions on q/k/v,
per-head RMSNorm on recurrent outputs, output gates that are the identity at init, and
decays that start slow. Softmax attention is the quadratic upper bound on recall; elu+1
linear attention the floor.
"""

import ast
import functools
import inspect
from collections.abc import Callable

from torch import nn

from asiarch.arch.zoo.deltanet import DeltaNet
from asiarch.arch.zoo.gated_deltanet import GatedDeltaNet
from asiarch.arch.zoo.gla import GatedLinearAttention
from asiarch.arch.zoo.linear_elu import LinearAttentionElu
from asiarch.arch.zoo.mamba2 import Mamba2
from asiarch.arch.zoo.retnet import Retention
from asiarch.arch.zoo.softmax import SoftmaxAttention

ZOO: dict[str, Callable[..., nn.Module]] = {
    "softmax": SoftmaxAttention,
    "deltanet": DeltaNet,
    "gated_deltanet": GatedDeltaNet,
    "gla": GatedLinearAttention,
    "mamba2": Mamba2,
    "retnet": Retention,
    "linear_elu": LinearAttentionElu,
}


def parse_reference(spec: str) -> tuple[str, dict[str, object]]:
    """``deltanet`` or ``deltanet[output_norm=False,q_scale=False]``: a zoo name and the knobs it sets, checked
    against the reference's ``KNOBS`` (a one-line error names the problem and what is allowed)."""
    name, _, rest = spec.partition("[")
    if name not in ZOO:
        raise KeyError(f"unknown reference {name!r}; the zoo has: {', '.join(ZOO)}")
    if not rest:
        return name, {}
    if not rest.endswith("]"):
        raise ValueError(f"reference {spec!r} must end with ']' (e.g. {name}[output_norm=False])")
    knobs = getattr(ZOO[name], "KNOBS", {})
    options: dict[str, object] = {}
    for item in filter(None, rest[:-1].split(",")):
        key, _, text = item.partition("=")
        key = key.strip()
        if key not in knobs:
            raise ValueError(f"reference {name} has no knob {key!r}; its knobs: {', '.join(knobs) or 'none'}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        if value not in knobs[key]:
            allowed = ", ".join(map(repr, knobs[key]))
            raise ValueError(f"knob {key} of reference {name} cannot be {text.strip()!r}; allowed: {allowed}")
        options[key] = value
    return name, options


def reference(spec: str) -> Callable[..., nn.Module]:
    """The constructor ``(d_model, num_heads) -> mixer`` of a reference architecture: its zoo name, optionally
    with knobs set (``parse_reference``)."""
    name, options = parse_reference(spec)
    return functools.partial(ZOO[name], **options) if options else ZOO[name]


def reference_settings(spec: str) -> dict[str, object]:
    """Every knob of a reference and the value it takes in ``spec`` (the default where ``spec`` leaves it):
    what a campaign records as the reference configuration it compared with."""
    name, options = parse_reference(spec)
    defaults: dict[str, object] = {}
    for cls in ZOO[name].__mro__:  # a knob's default lives with the class that declares it
        init = cls.__dict__.get("__init__")
        if init is not None:
            for key, parameter in inspect.signature(init).parameters.items():
                if parameter.default is not inspect.Parameter.empty:
                    defaults.setdefault(key, parameter.default)
    knobs = getattr(ZOO[name], "KNOBS", {})
    return {key: options.get(key, defaults[key]) for key in knobs}
