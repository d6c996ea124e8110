"""A real campaign whose researcher's endpoint misbehaves in every way a server can: the campaign finishes, each
fault is retried within its bound or recorded as the experiment's one-line failure, and nothing crashes."""

from pathlib import Path

import pytest

from asiarch.agents.researcher.llm import LLMResearcher
from asiarch.cognition.retrieval import open_index
from asiarch.execute.local import LocalExecutor
from asiarch.llm.client import EndpointClient
from asiarch.llm.replay import RecordingClient
from asiarch.loop import run_campaign
from asiarch.store.db import open_store
from asiarch.store.queries import find_campaign, get_or_create_campaign
from tests.campaigns import experiments_of, tiny_config
from tests.llm.servers import ScriptedServer, chat_reply, endpoint_config, error_reply, slow_reply, truncated_reply

CODE = (Path(__file__).resolve().parents[2] / "examples" / "gated_deltanet_mixer.py").read_text()
TIMEOUT_S = 1.0


def answer(name: str, scale: str) -> str:
    code = CODE.replace("class Mixer", f"SCALE = {scale}\n\n\nclass Mixer")
    return f"NAME: {name}\nMOTIVATION: A gated delta rule, scaled {scale}.\n```python\n{code}```\n"


SCRIPT = [
    # slot 0: rate-limited once, then answered
    error_reply(429, "slow down", **{"retry-after": "0"}), chat_reply(answer("after_429", "1.0")),
    # slot 1: the server keeps failing: given up after 1 + max_retries attempts
    error_reply(500, "boom"), error_reply(500, "boom"), error_reply(500, "boom"),
    # slot 2: a body cut short, then answered
    truncated_reply(), chat_reply(answer("after_truncation", "2.0")),
    # slot 3: empty, then prose instead of the format, after the format was explained
    chat_reply(None), chat_reply("I would use a delta rule."),
    # slot 4: an answer far beyond max_tokens
    chat_reply("x" * 200_000),
    # slot 5: no answer within the timeout, then answered
    slow_reply(chat_reply(answer("after_timeout", "3.0")), TIMEOUT_S * 3), chat_reply(answer("after_timeout", "3.0")),
]  # fmt: skip
FAILURES = {
    1: "gave up after 3 attempts",
    3: "answer was unusable twice",
    4: "answered 200,000 characters, more than llm.planner.max_tokens (4,096) allows",
}


@pytest.mark.reliability
@pytest.mark.slow
def test_a_campaign_survives_every_endpoint_fault_and_records_each_one(tmp_path):
    config = tiny_config(tmp_path, batch_size=1)
    store = open_store(config.store)
    with store.session() as session:
        campaign_id = get_or_create_campaign(session, "llm").id
    with ScriptedServer(SCRIPT) as server:
        llm = endpoint_config(server.url, timeout_s=TIMEOUT_S, max_retries=2)
        researcher = LLMResearcher(config, RecordingClient(EndpointClient(llm), store, campaign_id))
        with LocalExecutor(config.execution) as executor:
            summary = run_campaign(config, store, "llm", researcher, executor, retrieve=open_index(config).search_many)
    assert summary.stop_reason.startswith("experiment budget reached")
    assert len(server.replies) == 0, "every scripted reply was asked for, in order"

    experiments = sorted(experiments_of(config, "llm"), key=lambda e: e.decision["index"])
    assert len(experiments) == len(FAILURES) + 3
    for index, experiment in enumerate(experiments):
        if index in FAILURES:
            assert experiment.status == "failed" and experiment.failure_gate == "researcher"
            assert FAILURES[index] in experiment.failure_reason and "\n" not in experiment.failure_reason
        else:
            assert experiment.failure_gate != "researcher", (index, experiment.failure_reason)
    with store.session() as session:
        assert find_campaign(session, "llm").state == "finished"
    store.close()
