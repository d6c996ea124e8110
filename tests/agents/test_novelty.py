"""The novelty filter on real candidate files and real MiniLM embeddings, with history from a real store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from asiarch.agents.novelty import NoveltyFilter, describe
from asiarch.config import NoveltyConfig
from asiarch.protocols import Proposal
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, get_or_create_campaign

ROOT = Path(__file__).resolve().parents[2]
GATED = (ROOT / "examples" / "gated_deltanet_mixer.py").read_text()
MAMBA2 = (ROOT / "src" / "asiarch" / "arch" / "zoo" / "mamba2.py").read_text()

MOTIVATION = (
    "Gated DeltaNet: a delta-rule memory with a data-dependent decay. Short causal convolutions on queries, "
    "keys and values give a few tokens of local context, keys are L2-normalised so the delta update stays "
    "stable, and a low-rank output gate that starts at one keeps the layer within the parameter budget."
)
PARAPHRASE = (
    "A memory updated by the delta rule whose forgetting rate depends on the input. Queries, keys and values "
    "first pass through short causal convolutions for local context; the keys are normalised to unit length "
    "to keep the overwrite stable; a cheap low-rank gate on the output, initialised to the identity, holds "
    "the parameter count near the budget."
)
LONGER_CONV = (
    "Gated DeltaNet with longer short convolutions: the kernel of the causal convolutions on queries, keys "
    "and values grows from 4 to 8 tokens, so each token sees more local context before it is written."
)
VALUE_SKIP = (
    "Add a learned per-head skip of the values straight into the read-out (Mamba's D term), so that a token "
    "can pass its own content through even when the memory is saturated."
)
SSM = "A state-space layer with a scalar, input-dependent decay per head and a direct skip of the values."

CONV8 = GATED.replace("conv_size: int = 4", "conv_size: int = 8")
WITH_SKIP = GATED.replace(
    "        self.o_proj = nn.Linear(d_model, d_model, bias=False)\n",
    "        self.o_proj = nn.Linear(d_model, d_model, bias=False)\n"
    "        self.skip = nn.Parameter(torch.ones(num_heads, 1, 1))\n",
).replace("        o = o * torch.rsqrt(", "        o = o + self.skip * v\n        o = o * torch.rsqrt(")
REORDERED = GATED.replace(
    "        self.chunk_size = chunk_size\n        self.norm_eps = norm_eps\n",
    "        self.norm_eps = norm_eps\n        self.chunk_size = chunk_size\n",
)
DISGUISED = ast.unparse(ast.parse(GATED.replace("q_proj", "to_query").replace("ShortConv", "CausalConv")))


def proposal(code: str, motivation: str, name: str = "candidate") -> Proposal:
    return Proposal(name=name, motivation=motivation, code=code)


def remembering_gated(config: NoveltyConfig | None = None, judge=None) -> NoveltyFilter:
    novelty = NoveltyFilter(config or NoveltyConfig(), judge=judge)
    novelty.remember("gated", proposal(GATED, MOTIVATION, "gated_deltanet"))
    novelty.remember("ssm", proposal(MAMBA2, SSM, "mamba2"))
    return novelty


class RecordingJudge:
    """A stand-in for the LLM judge: answers a fixed verdict and keeps what it was shown."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls: list[tuple[Proposal, str]] = []

    def __call__(self, candidate: Proposal, earlier: str) -> bool:
        self.calls.append((candidate, earlier))
        return self.answer


def test_nothing_is_a_repeat_of_an_empty_history():
    verdict = NoveltyFilter(NoveltyConfig()).judge(proposal(GATED, MOTIVATION))
    assert verdict.novel and verdict.repeats is None


def test_a_renamed_reformatted_copy_is_a_repeat_whatever_its_motivation_says():
    novelty = remembering_gated()
    assert DISGUISED != GATED
    verdict = novelty.judge(proposal(DISGUISED, PARAPHRASE, "fresh_name"))
    assert not verdict.novel and verdict.repeats == "gated"
    assert verdict.structure_similarity == 1.0 and "same code" in verdict.reason


def test_a_hyper_parameter_change_is_novel_even_when_told_the_same_way():
    novelty = remembering_gated()
    for motivation in (LONGER_CONV, MOTIVATION):
        verdict = novelty.judge(proposal(CONV8, motivation))
        assert verdict.novel and verdict.repeats == "gated"
        assert 0.9 < verdict.structure_similarity < 1.0
    assert verdict.motivation_similarity > 0.99


def test_an_added_motif_is_novel():
    verdict = remembering_gated().judge(proposal(WITH_SKIP, VALUE_SKIP))
    assert verdict.novel and verdict.repeats == "gated" and verdict.structure_similarity < 1.0


def test_a_paraphrased_motivation_with_different_code_is_novel():
    novelty = NoveltyFilter(NoveltyConfig())
    novelty.remember("gated", proposal(GATED, MOTIVATION))
    verdict = novelty.judge(proposal(MAMBA2, PARAPHRASE))
    assert verdict.novel and verdict.structure_similarity < 0.2
    assert 0.6 < verdict.motivation_similarity < NoveltyConfig().borderline_motivation


def test_a_reordered_copy_told_the_same_way_is_a_repeat_by_the_configured_thresholds():
    repeated = proposal(REORDERED, MOTIVATION)
    verdict = remembering_gated().judge(repeated)
    assert not verdict.novel and verdict.repeats == "gated"
    assert NoveltyConfig().structure_threshold <= verdict.structure_similarity < 1.0
    assert "structure" in verdict.reason and "motivation" in verdict.reason
    stricter = remembering_gated(NoveltyConfig(structure_threshold=0.999)).judge(repeated)
    assert stricter.novel and stricter.structure_similarity == verdict.structure_similarity
    told_otherwise = remembering_gated().judge(proposal(REORDERED, LONGER_CONV))
    assert told_otherwise.novel


def test_the_judge_decides_in_the_borderline_band_only():
    saying_repeat = RecordingJudge(answer=True)
    verdict = remembering_gated(judge=saying_repeat).judge(proposal(CONV8, MOTIVATION))
    assert not verdict.novel and verdict.repeats == "gated" and "judge" in verdict.reason
    [(shown, earlier)] = saying_repeat.calls
    assert shown.code == CONV8 and earlier == describe(proposal(GATED, MOTIVATION, "gated_deltanet"))

    saying_new = RecordingJudge(answer=False)
    verdict = remembering_gated(judge=saying_new).judge(proposal(CONV8, MOTIVATION))
    assert verdict.novel and len(saying_new.calls) == 1

    far = RecordingJudge(answer=True)
    novelty = NoveltyFilter(NoveltyConfig(), judge=far)
    novelty.remember("gated", proposal(GATED, MOTIVATION))
    assert novelty.judge(proposal(MAMBA2, SSM)).novel and far.calls == []


def test_the_borderline_band_follows_the_config():
    judge = RecordingJudge(answer=True)
    narrow = NoveltyConfig(borderline_structure=0.99, borderline_motivation=1.0)
    assert remembering_gated(narrow, judge=judge).judge(proposal(CONV8, LONGER_CONV)).novel
    assert judge.calls == []
    assert not remembering_gated(judge=judge).judge(proposal(CONV8, LONGER_CONV)).novel


def test_a_resumed_campaign_remembers_its_experiments_from_the_store(tmp_path):
    store = open_store(tmp_path / "store.db")
    try:
        with store.session() as session:
            campaign = get_or_create_campaign(session, "resumed")
            other = get_or_create_campaign(session, "elsewhere")
            gated = add_experiment(session, campaign, "gated", GATED, motivation=MOTIVATION, status="analysed").id
            add_experiment(session, campaign, "ssm", MAMBA2, motivation=SSM, status="failed")
            add_experiment(session, campaign, "skip", WITH_SKIP, motivation=VALUE_SKIP, status="rejected")
            add_experiment(session, other, "elsewhere", CONV8, motivation=LONGER_CONV, status="analysed")
        novelty = NoveltyFilter(NoveltyConfig())
        with store.session() as session:
            campaign = get_or_create_campaign(session, "resumed")
            assert novelty.load_history(session, campaign) == 2
            assert novelty.load_history(session, campaign) == 0
        assert len(novelty) == 2
        verdict = novelty.judge(proposal(DISGUISED, MOTIVATION))
        assert not verdict.novel and verdict.repeats == gated
        assert novelty.judge(proposal(MAMBA2, SSM)).repeats != gated
        assert novelty.judge(proposal(CONV8, LONGER_CONV)).novel
    finally:
        store.close()


@pytest.mark.parametrize("field", ["structure_threshold", "borderline_structure"])
def test_thresholds_outside_zero_to_one_are_refused(field):
    with pytest.raises(ValueError, match=field):
        NoveltyConfig(**{field: 1.5})
