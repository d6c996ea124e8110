"""Behavioural gates: every defect is rejected by the gate that names it; no reference is rejected."""

import math
from pathlib import Path

import pytest
import torch

from asiarch.arch.cost_gates import (
    StepCostMeter,
    excess_growth,
    fitted_exponent,
    growth_segments,
    scaling_lengths,
    speed_lengths,
)
from asiarch.arch.gates import cut_points, prefix_consistency_gate, prefix_lengths, run_layer_gates
from asiarch.arch.loader import load_candidate
from asiarch.arch.receptive_field import edge_drops, largest_drop, probe_positions, receptive_field_gate
from asiarch.arch.zoo import ZOO
from asiarch.config import GatesConfig, load_config
from asiarch.execute.gate_job import gates_for

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = Path(__file__).parent / "defects"
FIXTURES = Path(__file__).parent / "fixtures"
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
    "prefix_consistency",
    "batch_independence",
    "receptive_field",
    "parameter_budget",
    "speed",
    "subquadratic",
    "local_growth",
]


@pytest.mark.parametrize("name", sorted(set(ZOO) - {"softmax"}))
def test_every_subquadratic_reference_passes_every_gate(name):
    verdicts = run_layer_gates(lambda: ZOO[name](CFG.d_model, CFG.num_heads), CFG)
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]
    assert [v.gate for v in verdicts] == ALL_LAYER_GATES
    figures = {v.gate: v.figures for v in verdicts}
    assert {"slowdown_at_64", "slowdown_at_128", "slowdown_at_1024"} <= set(figures["speed"])
    assert {"mib_at_64", "mflop_at_128", "ms_at_64"} <= set(figures["subquadratic"])
    assert {"compute_excess_32_64", "elements_excess_128_256"} <= set(figures["local_growth"])


def test_softmax_reference_is_correct_but_quadratic():
    """The quadratic upper bound of the zoo: every gate passes except the one that exists to reject it."""
    verdicts = run_layer_gates(lambda: ZOO["softmax"](CFG.d_model, CFG.num_heads), CFG)
    assert [v.gate for v in verdicts] == ALL_LAYER_GATES[: ALL_LAYER_GATES.index("subquadratic") + 1]
    assert all(v.passed for v in verdicts[:-1])
    assert not verdicts[-1].passed and verdicts[-1].figures["compute_exponent"] > 1.8


@pytest.mark.parametrize("example", ["gated_deltanet_mixer.py", "asi_arch_deltanet.py"])
def test_bundled_examples_pass(example):
    assert all(v.passed for v in verdicts_for_file(ROOT / "examples" / example))


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.py")))
def test_loader_fixtures_pass_the_length_gates(fixture):
    """Pad-to-chunk kernels, bf16 casts, masks and aux losses: none of them changes a prefix's output or shows a
    window edge (the fixtures are loader tests, so the budget and cost gates do not apply to them)."""
    spec = load_candidate(FIXTURES / fixture)
    torch.manual_seed(0)
    layer = spec.build(CFG.d_model, CFG.num_heads).eval()
    for gate in (prefix_consistency_gate, receptive_field_gate):
        verdict = gate(layer, CFG)
        assert verdict.passed, verdict


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


def test_prefix_probe_covers_every_stage_and_gate_length():
    cfg = GatesConfig(stage_seq_lens=[96, 300])
    lengths = prefix_lengths(cfg)
    assert {1, 17, 96, 300, cfg.causal_seq_len, cfg.speed_seq_len} <= set(lengths)
    assert lengths[-1] == max(cfg.scaling_seq_lens) and lengths == sorted(set(lengths))


def test_cost_gates_probe_the_stage_lengths_but_fit_only_the_longest_scaling_lengths():
    cfg = GatesConfig(stage_seq_lens=[64, 8192])
    assert speed_lengths(cfg) == [64, 1024, 8192]
    assert scaling_lengths(cfg) == [32, 64, 256, 512, 1024, 2048, 4096, 8192]


def test_local_growth_is_judged_over_doublings_from_the_window_limit_to_the_longest_stage_length():
    assert growth_segments(GatesConfig(stage_seq_lens=[64, 128])) == [(32, 64), (64, 128), (128, 256)]
    assert growth_segments(GatesConfig(stage_seq_lens=[64, 100])) == [(32, 64), (64, 256), (100, 256)]


def test_excess_growth_is_the_power_of_length_a_cost_outgrows_the_reference_by():
    linear = {n: 5.0 * n for n in (64, 128)}
    assert excess_growth(linear, {n: 2.0 * n for n in (64, 128)}, 64, 128) == pytest.approx(0.0)
    assert excess_growth({n: 0.1 * n * n for n in (64, 128)}, linear, 64, 128) == pytest.approx(1.0)
    assert excess_growth({n: 0.0 for n in (64, 128)}, linear, 64, 128) == 0.0


def test_cost_meter_counts_the_elements_of_work_done_row_by_row_but_not_views():
    x = torch.randn(64, 32)
    with StepCostMeter() as meter:
        x.t().unsqueeze(0)
    assert meter.elements == 0
    with StepCostMeter() as meter:
        for t in range(64):
            (x[t] * x[: t + 1]).sum(-1)
    row_products = sum((t + 1) * 32 for t in range(64))
    assert meter.flops == 0 and meter.elements >= 2 * row_products


def test_gate_settings_take_the_stage_lengths_from_the_stages_unless_set():
    assert gates_for(load_config(None)).stage_seq_lens == [64, 128]
    longer = load_config(None, ["stages.screen.tasks.lm.params.seq_len=256"])
    assert gates_for(longer).stage_seq_lens == [64, 128, 256]
    assert gates_for(load_config(None, ["gates.stage_seq_lens=[32]"])).stage_seq_lens == [32]
    assert GatesConfig().evaluated_seq_lens == [64, 128]
    with pytest.raises(ValueError, match="positive lengths"):
        GatesConfig(stage_seq_lens=[0, 64])


def _profile(log_influence: list[list[float]]) -> torch.Tensor:
    return torch.tensor(log_influence).exp()


def test_a_window_edge_is_a_drop_and_smooth_forgetting_is_not():
    distance = torch.arange(200, dtype=torch.float32)
    window = torch.where(distance < 64, 0.0, -math.log(5.0))
    fast_decay = -0.2 * distance
    distances, drops = edge_drops(_profile([window.tolist()] * 3), 32)
    assert int(distances[drops.argmax()]) == 64 and math.exp(float(drops.max())) == pytest.approx(5.0, rel=1e-4)
    _, drops = edge_drops(_profile([fast_decay.tolist()] * 3), 32)
    assert math.exp(float(drops.max())) < 1.01


def test_a_trained_layer_is_searched_for_window_edges_up_to_twice_the_longest_stage_length():
    distance = torch.arange(400, dtype=torch.float32)

    def window(edge: int) -> list[tuple[int, torch.Tensor]]:
        return [(399, _profile([torch.where(distance < edge, 0.0, -math.log(5.0)).tolist()] * 3))]

    assert largest_drop(window(300), 32)[1] == 300
    assert largest_drop(window(300), 32, farthest=256) == (0.0, 0, 0)
    assert largest_drop(window(100), 32, farthest=256)[1] == 100


def test_resets_at_different_distances_in_different_samples_are_not_a_window():
    """A data-dependent gate that wipes the memory does so at a different distance in each sample."""
    distance = torch.arange(200, dtype=torch.float32)
    rows = [torch.where(distance < cut, 0.0, -8.0).tolist() for cut in (50, 90, 130, 170)]
    rows += [torch.zeros(200).tolist()] * 3
    _, drops = edge_drops(_profile(rows), 32)
    assert math.exp(float(drops.max())) < 1.01


def test_probe_positions_catch_block_local_windows_at_any_offset():
    positions = probe_positions(512, 32)
    assert len(set(positions)) == len(positions) and min(positions) >= 256
    for block in range(64, 257):
        for offset in range(block):
            assert any((t - offset) % block + 1 >= 32 for t in positions), (block, offset)
