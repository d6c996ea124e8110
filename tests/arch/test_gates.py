"""Behavioural gates: every defect is rejected by the gate that names it; no reference is rejected."""

from pathlib import Path

import pytest

from asiarch.arch.gates import cut_points, run_behavioural_gates
from asiarch.arch.loader import load_candidate
from asiarch.arch.zoo import ZOO
from asiarch.config import GatesConfig

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = Path(__file__).parent / "defects"
CFG = GatesConfig()


def verdicts_for_file(path: Path):
    spec = load_candidate(path)
    return run_behavioural_gates(lambda: spec.build(CFG.d_model, CFG.num_heads), CFG)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_reference_passes(name):
    verdicts = run_behavioural_gates(lambda: ZOO[name](CFG.d_model, CFG.num_heads), CFG)
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]
    assert [v.gate for v in verdicts] == [
        "instantiate",
        "shape",
        "finite",
        "repeatability",
        "causality",
        "batch_independence",
    ]


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
    (verdict,) = run_behavioural_gates(lambda: spec.build(CFG.d_model, CFG.num_heads), CFG)
    assert verdict.gate == "instantiate" and not verdict.passed and "refuses to be built" in verdict.reason


def test_cut_points_straddle_every_chunk_edge():
    points = cut_points(160, [8, 64, 128])
    assert {0, 7, 8, 9, 63, 64, 65, 127, 128, 129, 158} <= set(points)
    assert max(points) < 159
