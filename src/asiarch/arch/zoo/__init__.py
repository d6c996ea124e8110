"""The reference architectures (baseline zoo): what 'normal' means at every stage.

Conventions shared by all references (see ``base``): short causal convolutions on q/k/v,
per-head RMSNorm on recurrent outputs, output gates that are the identity at init, and
decays that start slow. Softmax attention is the quadratic upper bound on recall; elu+1
linear attention the floor.
"""

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


def reference(name: str) -> Callable[..., nn.Module]:
    """The mixer class of a reference architecture, by its zoo name."""
    if name not in ZOO:
        raise KeyError(f"unknown reference {name!r}; the zoo has: {', '.join(ZOO)}")
    return ZOO[name]
