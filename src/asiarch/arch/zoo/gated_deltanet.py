"""Gated DeltaNet (Yang et al., 2025): the delta rule with a Mamba2-style scalar decay per head.

Measured on this project's CPU budget: with the usual random-sign output gate and aggressive
decay at initialisation the layer stays at chance on MQAR for 600 steps; with the identity
gate and slow decay used here it learns.
"""

import torch

from asiarch.arch.zoo.base import IdentityGate, ScalarDecay
from asiarch.arch.zoo.deltanet import DeltaNet
from asiarch.ops import gated_delta_rule


class GatedDeltaNet(DeltaNet):
    def __init__(self, d_model: int, num_heads: int, **knobs: bool) -> None:
        super().__init__(d_model, num_heads, **knobs)
        self.decay = ScalarDecay(d_model, num_heads)
        self.out_gate = IdentityGate(d_model)

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, k = self.normalised(q, k)
        _, log_decay = self.decay(x)
        return gated_delta_rule(q, k, v, self.betas(x), log_decay)
