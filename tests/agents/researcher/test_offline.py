"""The offline researcher: the grammar expresses the zoo, proposals are real, steered and repairable."""

from __future__ import annotations

import collections

import pydantic
import pytest
import torch

from asiarch.agents.engineer import Engineer
from asiarch.agents.researcher.context import zoo_brief
from asiarch.agents.researcher.offline.codegen import generate
from asiarch.agents.researcher.offline.grammar import (
    FirPath,
    MemoryPath,
    Spec,
    WindowPath,
    motifs_of,
    parameter_count,
    parse_spec,
    spec_tree,
)
from asiarch.agents.researcher.offline.researcher import OfflineResearcher, check_windows, spec_hash
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.arch.loader import load_candidate
from asiarch.arch.source_gates import run_source_gates
from asiarch.arch.zoo import reference
from asiarch.cognition.motifs import MOTIFS
from asiarch.config import Config, load_config
from asiarch.execute.local import LocalExecutor
from asiarch.protocols import CognitionHit, Credit, ResearchContext

CONFIG = Config()


def researcher(seed: int = 0) -> OfflineResearcher:
    return OfflineResearcher(CONFIG.researcher, CONFIG.gates, seed=seed)


def proposals(count: int, seed: int = 0, **context: object) -> list:
    names = list(ZOO_SPECS)
    agent = researcher(seed)
    return [
        agent.propose(
            ResearchContext(
                parent=zoo_brief(names[i % len(names)]),
                references=(zoo_brief(names[(i + 1) % len(names)]),),
                seed=i,
                **context,
            )
        )
        for i in range(count)
    ]


def build(code: str, d_model: int = 64, num_heads: int = 2) -> torch.nn.Module:
    return load_candidate(code, filename="generated.py").build(d_model, num_heads)


@pytest.mark.parametrize("name", list(ZOO_SPECS))
def test_every_reference_is_expressible_with_the_same_weights_and_outputs(name):
    torch.manual_seed(0)
    zoo_layer = reference(name)(64, 2)
    generated = build(generate(ZOO_SPECS[name], name))
    generated.load_state_dict(zoo_layer.state_dict(), strict=True)
    x = torch.randn(3, 50, 64)
    torch.testing.assert_close(generated(x), zoo_layer(x), rtol=1e-5, atol=1e-5)


def test_generated_designs_are_real_new_working_layers():
    batch = proposals(60)
    zoo = {spec_hash(spec) for spec in ZOO_SPECS.values()}
    assert len({spec_hash(parse_spec(p.spec)) for p in batch}) == len(batch)
    assert not zoo & {spec_hash(parse_spec(p.spec)) for p in batch}
    for proposal in batch:
        assert [v for v in run_source_gates(proposal.code, "generated.py") if not v.passed] == []
        spec = parse_spec(proposal.spec)
        layer = build(proposal.code)
        assert sum(p.numel() for p in layer.parameters()) == parameter_count(spec, 64, 2), proposal.name
        x = torch.randn(2, 37, 64, requires_grad=True)
        y = layer(x)
        y.square().mean().backward()
        assert y.shape == x.shape and torch.isfinite(y).all() and torch.isfinite(x.grad).all(), proposal.name
        assert set(motifs_of(spec)) <= set(MOTIFS)


def test_proposals_stay_inside_the_parameter_budget_at_every_width():
    low, high = researcher().budget
    for proposal in proposals(80, seed=3):
        assert low <= parameter_count(parse_spec(proposal.spec), 64, 2) <= high, proposal.name


def test_the_grammar_reaches_every_motif_family():
    seen = collections.Counter(m for p in proposals(200, seed=1) for m in motifs_of(parse_spec(p.spec)))
    expected = {
        "rule:delta",
        "rule:gated_delta",
        "rule:negative_delta",
        "rule:multi_step_delta",
        "rule:vector_decay",
        "rule:scalar_decay",
        "rule:fixed_decay",
        "rule:additive",
        "feature:taylor",
        "feature:silu_l2",
        "conv:multiscale_fir",
        "local:sliding_window",
        "hybrid:headwise",
        "fusion:router",
        "fusion:sigmoid_gates",
        "gate:output",
        "skip:value",
    }
    assert expected <= set(seen), expected - set(seen)


def test_windows_stay_local_even_when_the_parent_is_softmax():
    agent = researcher()
    windows = []
    for seed in range(40):
        proposal = agent.propose(ResearchContext(parent=zoo_brief("softmax"), seed=seed))
        windows += [p.window for p in parse_spec(proposal.spec).paths if isinstance(p, WindowPath)]
    assert windows, "softmax's global path should become a sliding window"
    assert max(windows) <= max(CONFIG.researcher.windows) <= CONFIG.researcher.max_window_share * 64


def test_a_window_covering_the_task_is_refused_naming_the_key():
    config = load_config(None, ["researcher.windows=[4, 64]"])
    with pytest.raises(ValueError, match=r"researcher.windows=\[4, 64\] reaches past 8 tokens"):
        check_windows(config)
    check_windows(Config())


def test_specs_that_generate_the_same_layer_are_one_design():
    identity = Spec(paths=(MemoryPath(feature_map="identity", rules=("delta",)),))
    l2 = Spec(paths=(MemoryPath(feature_map="l2", rules=("delta",)),))
    assert spec_hash(identity) == spec_hash(l2) == spec_hash(ZOO_SPECS["deltanet"])
    assert spec_hash(identity) != spec_hash(Spec(paths=(MemoryPath(feature_map="l2", rules=("additive",)),)))


def test_all_three_operators_are_used_and_crossover_grafts_the_partner():
    batch = proposals(120, seed=2)
    used = collections.Counter(p.operator.split(":")[0] for p in batch)
    assert set(used) == {"mutate", "crossover", "simplify"}, used
    for proposal in batch:
        if proposal.operator.startswith("crossover"):
            assert len(proposal.parents) == 2


def test_proposals_are_deterministic_for_a_seed():
    assert [p.code for p in proposals(10, seed=7)] == [p.code for p in proposals(10, seed=7)]
    assert [p.code for p in proposals(10, seed=7)] != [p.code for p in proposals(10, seed=8)]


def _share(batch: list, key_prefix: str) -> float:
    return sum(key_prefix in p.operator for p in batch) / len(batch)


def test_credit_steers_the_choice_of_edit():
    key = "add:local:sliding_window"
    neutral = _share(proposals(150, seed=4), key)
    favoured = _share(proposals(150, seed=4, credit={key: Credit(mean_delta=2.0, count=20)}), key)
    disfavoured = _share(proposals(150, seed=4, credit={key: Credit(mean_delta=-2.0, count=20)}), key)
    assert favoured > 2 * neutral and disfavoured < neutral / 2, (neutral, favoured, disfavoured)


def test_cognition_steers_the_edit_and_the_motivation_cites_it():
    hit = CognitionHit(
        source="samba-2024",
        title="Samba: hybrid state space models with sliding-window attention",
        insight="Pair a recurrent memory with exact local attention. It recovers recall of recent tokens.",
        motifs=("local:sliding_window",),
    )
    neutral = _share(proposals(150, seed=5), "local:sliding_window")
    batch = proposals(150, seed=5, cognition=(hit,), weaknesses=("mqar",))
    assert _share(batch, "local:sliding_window") > 1.5 * neutral
    citing = [p for p in batch if "local:sliding_window" in p.operator]
    assert citing and all("[samba-2024]" in p.motivation and "lags on mqar" in p.motivation for p in citing)


def test_motivation_reports_the_credit_it_used():
    key = "swap:rule:gated_delta"
    batch = proposals(100, seed=6, credit={key: Credit(mean_delta=1.5, count=4)})
    chosen = [p for p in batch if p.operator.endswith(key)]
    assert chosen and all("+1.50 over 4 experiment(s)" in p.motivation for p in chosen)


def test_cost_failures_are_repaired_by_removing_the_costliest_motif():
    spec = Spec(
        paths=(MemoryPath(rules=("multi_step_delta",), steps=3), WindowPath(window=16), FirPath(kernel_sizes=(3,))),
        output_gate=True,
    )
    agent = researcher()
    proposal = agent.propose(ResearchContext(parent=zoo_brief("deltanet")))
    broken = proposal.__class__(proposal.name, proposal.motivation, generate(spec, "x"), spec=spec_tree(spec))
    repaired = agent.repair(broken, "gate speed failed: 5.1x slower than DeltaNet")
    fixed = parse_spec(repaired.spec)
    assert fixed != spec and repaired.operator.startswith("repair:")
    assert repaired.motivation.startswith(f"Repair of {broken.name} after gate speed failed")
    assert "rule:multi_step_delta" not in motifs_of(fixed)  # three delta steps per token were the costliest part
    assert parameter_count(fixed, 64, 2) < parameter_count(spec, 64, 2)


def test_repair_refuses_code_without_a_spec_with_a_clear_message():
    proposal = researcher().propose(ResearchContext(parent=zoo_brief("deltanet")))
    handwritten = proposal.__class__("mine", "", proposal.code)
    with pytest.raises(ValueError, match="only repair grammar-born proposals"):
        researcher().repair(handwritten, "gate causality failed")


def test_a_parent_without_a_spec_falls_back_to_the_configured_zoo_design():
    brief = zoo_brief("gla").__class__(name="llm-design", code="class Mixer: ...")
    proposal = researcher().propose(ResearchContext(parent=brief))
    assert proposal.parents == ("llm-design",)
    assert parse_spec(proposal.spec) != ZOO_SPECS["deltanet"]


def test_invalid_specs_are_refused_with_the_offending_field():
    with pytest.raises(pydantic.ValidationError, match="rules"):
        parse_spec({"paths": [{"kind": "memory", "rules": ["delta", "delta"]}]})
    with pytest.raises(pydantic.ValidationError, match="window"):
        parse_spec({"paths": [{"kind": "window", "window": 1}]})
    assert parse_spec(spec_tree(ZOO_SPECS["mamba2"])) == ZOO_SPECS["mamba2"]


@pytest.mark.slow
def test_proposals_pass_the_real_gates_in_the_sandbox(tmp_path):
    cfg = load_config(None, [])
    agent = researcher(seed=11)
    with LocalExecutor(cfg.execution) as executor:
        engineer = Engineer(cfg, executor, repairer=agent)
        for proposal in proposals(6, seed=11):
            realization = engineer.realize(proposal, tmp_path)
            assert realization.candidate is not None, realization.attempts[-1].failure
