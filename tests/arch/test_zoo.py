"""Every reference mixer obeys the contract: shape, causality, batch independence, finite gradients."""

import pytest
import torch

from asiarch.arch.backbone import LanguageModel
from asiarch.arch.zoo import ZOO, reference
from asiarch.arch.zoo.base import SLOW_DECAY_RANGE, IdentityGate, init_slow_decay_bias

NAMES = sorted(ZOO)


@pytest.fixture(params=NAMES)
def mixer(request):
    torch.manual_seed(0)
    return reference(request.param)(32, 2).double()


def test_shape_and_finite_gradients(mixer):
    x = torch.randn(3, 37, 32, dtype=torch.float64, requires_grad=True)
    y = mixer(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in mixer.parameters() if p.grad is not None)


@pytest.mark.parametrize("t", [0, 5, 31, 64, 70])
def test_causal(mixer, t):
    x = torch.randn(2, 71, 32, dtype=torch.float64)
    changed = x.clone()
    changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :])
    assert torch.allclose(mixer(x)[:, : t + 1], mixer(changed)[:, : t + 1], atol=1e-10)
    assert not torch.allclose(mixer(x)[:, t + 1 :], mixer(changed)[:, t + 1 :]) or t == 70


def test_batch_independent(mixer):
    x = torch.randn(4, 20, 32, dtype=torch.float64)
    batched = mixer(x)
    for i in range(4):
        assert torch.allclose(mixer(x[i : i + 1])[0], batched[i], atol=1e-10)


def test_unknown_reference_names_the_zoo():
    with pytest.raises(KeyError, match="softmax"):
        reference("transformer-xl")


def test_identity_gate_is_identity_at_init_and_learns():
    gate = IdentityGate(32)
    x, y = torch.randn(2, 5, 32), torch.randn(2, 5, 32)
    assert torch.equal(gate(x, y), y)
    gate(x, y).sum().backward()
    assert gate.up.weight.grad.abs().sum() > 0


def test_slow_decay_bias_starts_within_the_documented_range():
    rates = torch.nn.functional.softplus(init_slow_decay_bias(1000))
    low, high = SLOW_DECAY_RANGE
    assert rates.min() >= low * 0.999 and rates.max() <= high * 1.001


def test_backbone_wraps_any_zoo_mixer():
    model = LanguageModel(50, 32, 2, 2.0, lambda: reference("deltanet")(32, 2))
    hidden, aux = model.hidden_states(torch.randint(0, 50, (2, 9)))
    assert hidden.shape == (2, 9, 32) and aux.item() == 0
    assert model.logits(hidden[0]).shape == (9, 50)
