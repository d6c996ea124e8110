"""Every reference mixer obeys the contract: shape, causality, batch independence, finite gradients."""

import re

import pytest
import torch

from asiarch.arch.backbone import LanguageModel
from asiarch.arch.zoo import ZOO, parse_reference, reference, reference_settings
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


def flips() -> list[tuple[str, str]]:
    """(base, base with one knob flipped) for every knob of every reference. A query scale only shows without the
    per-head output norm (which undoes any scale of the read-out), so that flip is made from a norm-free base."""
    pairs = []
    for name in NAMES:
        for knob, default in reference_settings(name).items():
            base = f"{name}[output_norm=False" if knob == "q_scale" else f"{name}["
            pairs.append((base + "]", f"{base}{',' if base.endswith('False') else ''}{knob}={not default!r}]"))
    return pairs


@pytest.mark.parametrize(("base", "spec"), flips())
def test_every_knob_setting_is_a_causal_mixer_that_differs_from_the_default(base, spec):
    x = torch.randn(2, 33, 32, dtype=torch.float64)
    changed = x.clone()
    changed[:, 20:] = torch.randn_like(changed[:, 20:])
    torch.manual_seed(0)
    tuned = reference(spec)(32, 2).double()
    assert torch.allclose(tuned(x)[:, :20], tuned(changed)[:, :20], atol=1e-10)
    torch.manual_seed(0)
    default = reference(base)(32, 2).double()
    assert not torch.allclose(tuned(x), default(x)), f"{spec} computes what {base} computes"


def test_reference_settings_name_every_knob_with_the_value_a_spec_gives_it():
    assert reference_settings("deltanet") == {"output_norm": True, "short_conv": True, "conv_activation": True,
                                              "q_scale": True}  # fmt: skip
    assert reference_settings("softmax")["output_norm"] is False, "a class's own default, not its parent's"
    assert reference_settings("gla[q_scale=False, short_conv=False]") == {
        "output_norm": True, "short_conv": False, "conv_activation": True, "q_scale": False
    }  # fmt: skip
    assert reference("deltanet[output_norm=False]")(32, 2).head_norm is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("deltanet[chunk=64]", "reference deltanet has no knob 'chunk'; its knobs: output_norm, short_conv"),
        ("mamba2[q_scale=False]", "reference mamba2 has no knob 'q_scale'"),
        ("gla[q_scale=0.5]", "knob q_scale of reference gla cannot be '0.5'; allowed: True, False"),
        ("retnet[output_norm=False", "must end with ']'"),
    ],
)
def test_a_wrong_knob_is_one_line_naming_what_is_allowed(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_reference(spec)


@pytest.mark.parametrize("name", NAMES)
def test_a_knobs_needs_name_a_knob_and_one_of_its_values(name):
    cls = ZOO[name]
    for knob, (needed, value) in cls.KNOB_NEEDS.items():
        assert knob in cls.KNOBS and needed in cls.KNOBS and value in cls.KNOBS[needed]
