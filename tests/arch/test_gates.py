"""Behavioural gates: every defect is rejected by the gate that names it; no reference is rejected."""

from pathlib import Path

import pytest
import torch

from asiarch.arch.cost_gates import StepCostMeter, fitted_exponent
from asiarch.arch.gates import cut_points, run_layer_gates
from asiarch.arch.loader import load_candidate
from asiarch.arch.zoo import ZOO
from asiarch.config import GatesConfig

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = Path(__file__).parent / "defects"
CFG = GatesConfig()


def verdicts_for_file(path: Path):
    spec = load_candidate(path)
    return run_layer_gates(lambda: spec.build(CFG.d_model, CFG.num_heads), CFG)


ALL_LAYER_GATES = [
    "instantiate",
    "shape",
    "finite",
    "repeatability",
    "causality",
    "batch_independence",
    "parameter_budget",
    "speed",
    "subquadratic",
]


@pytest.mark.parametrize("name", sorted(set(ZOO) - {"softmax"}))
def test_every_subquadratic_reference_passes_every_gate(name):
    verdicts = run_layer_gates(lambda: ZOO[name](CFG.d_model, CFG.num_heads), CFG)
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]
    assert [v.gate for v in verdicts] == ALL_LAYER_GATES


def test_softmax_reference_is_correct_but_quadratic():
    """The quadratic upper bound of the zoo: every gate passes except the one that exists to reject it."""
    verdicts = run_layer_gates(lambda: ZOO["softmax"](CFG.d_model, CFG.num_heads), CFG)
    assert [v.gate for v in verdicts] == ALL_LAYER_GATES
    assert all(v.passed for v in verdicts[:-1])
    assert not verdicts[-1].passed and verdicts[-1].figures["compute_exponent"] > 1.8


@pytest.mark.parametrize("example", ["gated_deltanet_mixer.py", "asi_arch_deltanet.py"])
def test_bundled_examples_pass(example):
    assert all(v.passed for v in verdicts_for_file(ROOT / "examples" / example))


@pytest.mark.parametrize(
    "defect,gate,words",
    [
        ("leak_reversed_cumsum.py", "causality", "sees the future"),
        ("leak_roll.py", "causality", "sees the future"),
        ("leak_global_mean.py", "causality", "sees the future"),
        ("leak_unmasked_attention.py", "causality", "sees the future"),
        ("leak_chunk_forgets_mask.py", "causality", "sees the future"),
        ("batch_statistics.py", "batch_independence", "batch dimension"),
        ("nan_output.py", "finite", "NaN or Inf"),
        ("stateful.py", "repeatability", "state between calls"),
        ("wrong_shape.py", "shape", "differs from input shape"),
        ("quadratic_attention.py", "subquadratic", "the layer is quadratic"),
        ("quadratic_fused_attention.py", "subquadratic", "compute grows as length^"),
        ("per_token_loop.py", "speed", "per-token Python loops"),
        ("bloated_parameters.py", "parameter_budget", "more than the reference DeltaNet"),
    ],
)
def test_each_defect_is_rejected_by_the_right_gate(defect, gate, words):
    verdicts = verdicts_for_file(DEFECTS / defect)
    failed = verdicts[-1]
    assert not failed.passed and failed.gate == gate
    assert words in failed.reason and "\n" not in failed.reason
    assert all(v.passed for v in verdicts[:-1])


def test_constructor_failure_is_an_instantiate_verdict():
    spec = load_candidate(ROOT / "tests" / "execute" / "fixtures" / "raises.py")
    (verdict,) = run_layer_gates(lambda: spec.build(CFG.d_model, CFG.num_heads), CFG)
    assert verdict.gate == "instantiate" and not verdict.passed and "refuses to be built" in verdict.reason


def test_cut_points_straddle_every_chunk_edge():
    points = cut_points(160, [8, 64, 128])
    assert {0, 7, 8, 9, 63, 64, 65, 127, 128, 129, 158} <= set(points)
    assert max(points) < 159


def test_fitted_exponent_recovers_power_laws():
    lengths = [256, 512, 1024, 2048]
    assert fitted_exponent(lengths, [3.0 * n for n in lengths]) == pytest.approx(1.0)
    assert fitted_exponent(lengths, [0.5 * n**2 for n in lengths]) == pytest.approx(2.0)


def test_cost_meter_counts_attention_flops_and_peak_memory():
    q = torch.randn(1, 2, 256, 16)
    with StepCostMeter() as meter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
        scores = torch.ones(256, 256)
        del scores
    assert meter.flops == 2 * 2 * 2 * 256 * 256 * 16
    assert meter.peak >= 256 * 256 * 4 and meter.live < 256 * 256 * 4


def test_scaling_probe_config_is_validated():
    with pytest.raises(ValueError, match="increase strictly"):
        GatesConfig(scaling_seq_lens=[512, 256])
    with pytest.raises(ValueError, match="exceeds"):
        GatesConfig(scaling_seq_lens=[256, 512], scaling_fit_points=3)
