"""The LLM researcher end to end: real openai SDK, a local scripted server, a real SQLite ledger, replay."""

import json
import os

import pytest
from sqlalchemy import select

from asiarch.agents.researcher.llm import (
    LLMAssessor,
    LLMJudge,
    LLMResearcher,
    LLMResearchError,
    extract_entry,
    render_prompt,
)
from asiarch.config import Config
from asiarch.llm.client import EndpointClient
from asiarch.llm.replay import RecordingClient, ReplayClient
from asiarch.protocols import CognitionHit, Credit, ExperimentBrief, Proposal, ResearchContext
from asiarch.store.db import open_store
from asiarch.store.queries import get_or_create_campaign
from asiarch.store.schema import LLMCall
from tests.llm.servers import ScriptedServer, chat_reply, endpoint_config

PARENT_CODE = """import torch
from torch import nn
from torch.nn import functional as F

from asiarch.ops import linear_attention


class Mixer(nn.Module):
    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        y = linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, normalize=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))
"""
DELTA_CODE = PARENT_CODE.replace("linear_attention", "delta_rule").replace(
    "F.elu(q) + 1, F.elu(k) + 1, v, normalize=True", "F.normalize(q, dim=-1), F.normalize(k, dim=-1), v, beta"
)

CONTEXT = ResearchContext(
    parent=ExperimentBrief(
        name="elu_linear",
        code=PARENT_CODE,
        id=7,
        motivation="Positive features make a normalised linear attention.",
        results={"mqar": 0.41, "lm": 2.9},
        fitness=-0.8,
        analysis="Recall collapses beyond 8 key-value pairs.",
    ),
    references=(ExperimentBrief(name="gated_delta", code="", results={"mqar": 0.93}, fitness=0.4, motivation="m"),),
    cognition=(
        CognitionHit("deltanet-2024", "Delta rule", "Overwrite the value stored under a key.", ("rule:delta",)),
    ),
    insights=("Short convolutions helped every recall task.",),
    failures=(ExperimentBrief(name="softmax_hybrid", code="", failure="sub-quadratic gate: exponent 1.9"),),
    credit={"conv:short": Credit(0.21, 4)},
    weaknesses=("mqar: recall fails when many key-value pairs are stored",),
)

GOOD = f"NAME: delta_swap\nMOTIVATION: The delta rule overwrites stale bindings.\n```python\n{DELTA_CODE}```\n"
EDITS = (
    "NAME: elu_scaled\nMOTIVATION: Halve the output.\n"
    "<<<<<<< SEARCH\n        return self.out(y.transpose(1, 2).reshape(b, t, d))\n=======\n"
    "        return 0.5 * self.out(y.transpose(1, 2).reshape(b, t, d))\n>>>>>>> REPLACE\n"
)


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "x.db")
    yield opened
    opened.close()


@pytest.fixture
def campaign_id(store):
    with store.session() as session:
        return get_or_create_campaign(session, "llm").id


def researcher(server: ScriptedServer, store, campaign_id) -> LLMResearcher:
    client = RecordingClient(EndpointClient(endpoint_config(server.url)), store, campaign_id)
    return LLMResearcher(Config(), client)


def calls(store) -> list[LLMCall]:
    with store.session() as session:
        return list(session.scalars(select(LLMCall).order_by(LLMCall.id)))


def test_good_answer_becomes_a_proposal_and_a_recorded_call(store, campaign_id):
    with ScriptedServer([chat_reply(GOOD)]) as server:
        proposal = researcher(server, store, campaign_id).propose(CONTEXT)
    assert proposal == Proposal(
        name="delta_swap",
        motivation="The delta rule overwrites stale bindings.",
        code=DELTA_CODE,
        parents=("elu_linear",),
        operator="llm-rewrite",
        spec=None,
    )
    prompt = server.requests[0]["messages"][0]["content"]
    for expected in (
        PARENT_CODE.rstrip(),
        "Recall collapses beyond 8 key-value pairs.",
        "mqar 0.41",
        "recall fails when many key-value pairs are stored",
        "[deltanet-2024] Delta rule",
        "Short convolutions helped every recall task.",
        "conv:short: +0.210 over 4",
        "gated_delta (fitness +0.400",
        "softmax_hybrid: sub-quadratic gate: exponent 1.9",
        "17,314 parameters",  # the reference DeltaNet at the gates' width, counted
        "`delta_rule(q, k, v, beta, *, mode='chunk', chunk_size=32)`",
        "Gates start open",
        "- q, k: (B, H, T, Dk); v: (B, H, T, Dv)",  # the ops' conventions, read from asiarch.ops.dispatch
    ):
        assert expected in prompt, expected
    assert "${" not in prompt
    [row] = calls(store)
    assert row.agent == "planner" and row.response == GOOD and row.campaign_id == campaign_id


def test_malformed_answer_is_corrected_after_feedback(store, campaign_id):
    no_name = GOOD.replace("NAME: delta_swap\n", "")
    with ScriptedServer([chat_reply(no_name), chat_reply(EDITS)]) as server:
        proposal = researcher(server, store, campaign_id).propose(CONTEXT)
    assert (proposal.name, proposal.operator) == ("elu_scaled", "llm-diff")
    assert "return 0.5 * self.out" in proposal.code
    first, retry = server.requests
    assert retry["messages"][:2] == [first["messages"][0], {"role": "assistant", "content": no_name}]
    assert "no 'NAME:' line" in retry["messages"][2]["content"]
    assert len(calls(store)) == 2


def test_empty_answer_gets_feedback_too(store, campaign_id):
    with ScriptedServer([chat_reply(None), chat_reply(GOOD)]) as server:
        assert researcher(server, store, campaign_id).propose(CONTEXT).name == "delta_swap"
    retry = server.requests[1]["messages"]
    assert retry[1]["content"] == "(empty answer)" and "the answer is empty" in retry[2]["content"]


def test_two_malformed_answers_are_one_clear_error(store, campaign_id):
    bad_search = EDITS.replace("return self.out", "return self.output")
    with ScriptedServer([chat_reply("I would use a delta rule."), chat_reply(bad_search)]) as server:
        with pytest.raises(LLMResearchError) as info:
            researcher(server, store, campaign_id).propose(CONTEXT)
    message = str(info.value)
    assert "planner" in message and "SEARCH block 1 does not match the parent code" in message
    assert "\n" not in message
    assert len(calls(store)) == 2


def test_repair_fixes_the_code_and_keeps_the_idea(store, campaign_id):
    [CALL] = [line for line in DELTA_CODE.splitlines() if "delta_rule(" in line]
    broken = Proposal("delta_swap", "Overwrite stale bindings.", DELTA_CODE, ("elu_linear",), "llm-rewrite")
    fix = (
        "<<<<<<< SEARCH\n        super().__init__()\n=======\n        super().__init__()\n"
        "        self.beta = nn.Linear(d_model, num_heads)\n>>>>>>> REPLACE\n"
        f"<<<<<<< SEARCH\n{CALL}\n=======\n"
        f"        beta = torch.sigmoid(self.beta(x)).transpose(1, 2)\n{CALL}\n>>>>>>> REPLACE\n"
    )
    failure = "instantiate gate: NameError: name 'beta' is not defined\nTraceback (most recent call last): ..."
    with ScriptedServer([chat_reply(fix)]) as server:
        repaired = researcher(server, store, campaign_id).repair(broken, failure)
    assert repaired == Proposal(
        "delta_swap", "Overwrite stale bindings.", repaired.code, ("elu_linear",), "llm-rewrite"
    )
    assert "self.beta = nn.Linear(d_model, num_heads)" in repaired.code
    prompt = server.requests[0]["messages"][0]["content"]
    assert failure in prompt and DELTA_CODE.rstrip() in prompt and "Overwrite stale bindings." in prompt
    assert [row.agent for row in calls(store)] == ["debugger"]


def test_replay_makes_identical_proposals_with_the_server_stopped(store, campaign_id):
    no_name = GOOD.replace("NAME: delta_swap\n", "")
    script = [chat_reply(no_name), chat_reply(EDITS), chat_reply(GOOD)]
    with ScriptedServer(script) as server:
        live = researcher(server, store, campaign_id)
        recorded = [live.propose(CONTEXT), live.propose(CONTEXT)]  # the same request twice: two answers
    assert recorded[0] != recorded[1]

    replay = LLMResearcher(Config(), ReplayClient(endpoint_config(server.url), store, campaign_id))
    assert [replay.propose(CONTEXT), replay.propose(CONTEXT)] == recorded
    assert len(calls(store)) == 3


def test_judge_answers_yes_or_no(store, campaign_id):
    earlier = "Name: delta\n\nMotivation:\nm\n\nCode:\nclass Mixer: ..."
    with ScriptedServer([chat_reply("REPEAT: yes\nREASON: only renamed"), chat_reply("REPEAT: no\nREASON: new")]) as s:
        judge = LLMJudge(RecordingClient(EndpointClient(endpoint_config(s.url)), store, campaign_id))
        proposal = Proposal("delta_swap", "m", DELTA_CODE)
        assert judge(proposal, earlier) is True
        assert judge(proposal, earlier) is False
    prompt = s.requests[0]["messages"][0]["content"]
    assert earlier in prompt and "Name: delta_swap" in prompt


def test_assessor_scores_from_code_and_analysis_and_corrects_a_bad_score_once(store, campaign_id):
    analysis = "delta_swap at screen: fitness +0.40; mqar +0.8σ over gated_deltanet."
    answers = [chat_reply("SCORE: 4\nREASON: excellent"), chat_reply("SCORE: 0.5\nREASON: overwrites stale keys")]
    with ScriptedServer(answers) as server:
        assessor = LLMAssessor(RecordingClient(EndpointClient(endpoint_config(server.url)), store, campaign_id))
        assert assessor(DELTA_CODE, analysis) == 0.5
    prompt = server.requests[0]["messages"][0]["content"]
    assert DELTA_CODE.rstrip() in prompt and analysis in prompt
    assert "SCORE: <number from -1 to 1>', got '4'" in server.requests[1]["messages"][-1]["content"]
    assert [call.agent for call in calls(store)] == ["assessor", "assessor"]


ENTRY_YAML = """```yaml
source: toy-2024
title: "A Toy Paper"
authors: "A. Author"
year: 2024
venue: "arXiv"
url: "https://arxiv.org/abs/0000.00000"
key_idea: >-
  Overwrite what a key stored.
symptoms:
  - task: mqar
    effect: >-
      recall of many pairs improves.
mechanism: >-
  S_t = S_{t-1} - beta (S_{t-1} k - v) k^T.
guidance: >-
  Use delta_rule with L2-normalised keys.
motifs: [rule:delta, feature:l2]
```"""


def test_extract_entry_validates_and_corrects_once(store):
    bad = ENTRY_YAML.replace("[rule:delta, feature:l2]", "[rule:delta, rule:magic]")
    with ScriptedServer([chat_reply(bad), chat_reply(ENTRY_YAML)]) as server:
        entry = extract_entry(RecordingClient(EndpointClient(endpoint_config(server.url)), store), "Paper text.")
    assert entry.source == "toy-2024" and entry.motifs == ("rule:delta", "feature:l2")
    first, retry = server.requests
    assert "Paper text." in first["messages"][0]["content"] and "`rule:gated_delta`" in first["messages"][0]["content"]
    assert "unknown motif 'rule:magic'" in retry["messages"][2]["content"]
    assert [json.loads(row.prompt)[0]["role"] for row in calls(store)] == ["user", "user"]


@pytest.mark.llm_real
@pytest.mark.skipif(not os.environ.get("ASIARCH_LLM_URL"), reason="set ASIARCH_LLM_URL to a running server")
def test_real_model_round_trip(store, campaign_id):
    """Against a real OpenAI-compatible server (docs/llm.md): a small model may well answer badly, so the
    test asks only that the round trip ends in a proposal or in our one-line error, with every call recorded."""
    config = endpoint_config(
        os.environ["ASIARCH_LLM_URL"].removesuffix("/v1"),
        model=os.environ.get("ASIARCH_LLM_MODEL", "local"),
        timeout_s=600.0,
        max_tokens=1024,
    )
    client = RecordingClient(EndpointClient(config), store, campaign_id)
    try:
        proposal = LLMResearcher(Config(), client).propose(CONTEXT)
    except LLMResearchError as exc:
        assert "\n" not in str(exc)
    else:
        assert proposal.name and ("class Mixer" in proposal.code or "class DeltaNet" in proposal.code)
    assert 1 <= len(calls(store)) <= 2 and all(row.response is not None for row in calls(store))


def test_a_placeholder_left_unfilled_is_named():
    with pytest.raises(LLMResearchError, match=r"prompt judge.md uses \$\{earlier\}, which its caller does not fill"):
        render_prompt("judge", candidate="x")
