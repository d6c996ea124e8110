"""Recording every call in a real SQLite store, and replaying it with no endpoint at all."""

import json

import pytest
from sqlalchemy import select

from asiarch.llm.client import EndpointClient, LLMError, request_key
from asiarch.llm.ledger import occurrence_key, spend
from asiarch.llm.replay import RecordingClient, ReplayClient, ReplayMiss, client_for
from asiarch.store.db import open_store
from asiarch.store.queries import get_or_create_campaign
from asiarch.store.schema import LLMCall
from tests.llm.servers import ScriptedServer, chat_reply, endpoint_config

ASK = [{"role": "user", "content": "Propose a layer."}]
OTHER = [{"role": "user", "content": "Fix this layer."}]


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "x.db")
    yield opened
    opened.close()


def campaign(store, name: str) -> int:
    with store.session() as session:
        return get_or_create_campaign(session, name).id


def rows(store) -> list[LLMCall]:
    with store.session() as session:
        return list(session.scalars(select(LLMCall).order_by(LLMCall.id)))


def test_every_call_is_a_row_with_prompt_answer_tokens_cost_and_key(store):
    cid = campaign(store, "c1")
    with ScriptedServer([chat_reply("an idea", prompt_tokens=300, completion_tokens=40)]) as server:
        config = endpoint_config(server.url)
        completion = RecordingClient(EndpointClient(config), store, cid).complete(ASK, agent="planner")
    [row] = rows(store)
    assert (row.campaign_id, row.agent, row.model, row.response) == (cid, "planner", "fake-1", "an idea")
    assert json.loads(row.prompt) == ASK
    assert (row.prompt_tokens, row.completion_tokens) == (300, 40)
    assert row.cost_usd == pytest.approx((300 * 2.0 + 40 * 8.0) / 1e6) == completion.cost_usd
    assert row.latency_s == completion.latency_s > 0
    assert row.cache_key == completion.cache_key == occurrence_key(request_key(config.planner, ASK), 0)


def test_identical_calls_replay_in_order_without_a_server(store):
    cid = campaign(store, "c1")
    script = [chat_reply("first"), chat_reply("other"), chat_reply("second"), chat_reply("third")]
    with ScriptedServer(script) as server:
        config = endpoint_config(server.url)
        recorder = RecordingClient(EndpointClient(config), store, cid)
        recorded = [recorder.complete(m, agent="planner").text for m in (ASK, OTHER, ASK, ASK)]
    assert recorded == ["first", "other", "second", "third"]
    assert len({row.cache_key for row in rows(store)}) == 4

    replay = ReplayClient(config, store, cid)  # the server is stopped: any real call would fail
    replayed = [replay.complete(m, agent="planner") for m in (ASK, ASK, OTHER, ASK)]
    assert [c.text for c in replayed] == ["first", "second", "other", "third"]
    assert all(c.cost_usd == 0.0 for c in replayed)
    assert len(rows(store)) == 4  # replayed calls are not recorded again

    with pytest.raises(ReplayMiss) as info:
        replay.complete(ASK, agent="planner")
    message = str(info.value)
    assert "planner" in message and "never recorded" in message and "occurrence 4" in message
    assert "\n" not in message


def test_replay_miss_when_settings_differ(store):
    cid = campaign(store, "c1")
    with ScriptedServer([chat_reply("hot")]) as server:
        RecordingClient(EndpointClient(endpoint_config(server.url)), store, cid).complete(ASK, agent="planner")
    colder = endpoint_config("http://127.0.0.1:9", temperature=0.1)
    with pytest.raises(ReplayMiss, match="planner call was never recorded in campaign"):
        ReplayClient(colder, store, cid).complete(ASK, agent="planner")


def test_a_resumed_campaign_goes_on_numbering_identical_calls(store):
    cid = campaign(store, "c1")
    with ScriptedServer([chat_reply("a"), chat_reply("b")]) as server:
        config = endpoint_config(server.url)
        RecordingClient(EndpointClient(config), store, cid).complete(ASK, agent="planner")
        RecordingClient(EndpointClient(config), store, cid).complete(ASK, agent="planner")  # a new process
    base = request_key(config.planner, ASK)
    assert [row.cache_key for row in rows(store)] == [occurrence_key(base, 0), occurrence_key(base, 1)]


def test_numbering_and_replay_are_per_campaign(store):
    first, second = campaign(store, "c1"), campaign(store, "c2")
    with ScriptedServer([chat_reply("from c1"), chat_reply("from c2")]) as server:
        config = endpoint_config(server.url)
        RecordingClient(EndpointClient(config), store, first).complete(ASK, agent="planner")
        RecordingClient(EndpointClient(config), store, second).complete(ASK, agent="planner")
    assert rows(store)[0].cache_key == rows(store)[1].cache_key  # both are the first such call of their campaign
    assert ReplayClient(config, store, second).complete(ASK, agent="planner").text == "from c2"
    assert ReplayClient(config, store).complete(ASK, agent="planner").text == "from c1"  # any campaign: earliest


def test_spend_sums_per_agent(store):
    cid = campaign(store, "c1")
    script = [chat_reply("a", 1000, 100), chat_reply("b", 2000, 300), chat_reply("c", 10, 1)]
    with ScriptedServer(script) as server:
        recorder = RecordingClient(EndpointClient(endpoint_config(server.url)), store, cid)
        recorder.complete(ASK, agent="planner")
        recorder.complete(OTHER, agent="planner")
        recorder.complete(ASK, agent="debugger")
    with store.session() as session:
        totals = spend(session, cid)
    assert set(totals) == {"planner", "debugger"}
    planner = totals["planner"]
    assert (planner.calls, planner.prompt_tokens, planner.completion_tokens) == (2, 3000, 400)
    assert planner.cost_usd == pytest.approx((3000 * 2.0 + 400 * 8.0) / 1e6)


def test_client_for_chooses_recording_or_replay(store):
    cid = campaign(store, "source")
    with ScriptedServer([chat_reply("recorded")]) as server:
        config = endpoint_config(server.url)
        recording = client_for(config, store, cid)
        assert isinstance(recording, RecordingClient)
        recording.complete(ASK, agent="planner")
    replaying = client_for(config.model_copy(update={"replay": True, "replay_campaign": "source"}), store)
    assert isinstance(replaying, ReplayClient)
    assert replaying.complete(ASK, agent="planner").text == "recorded"
    with pytest.raises(LLMError, match="no campaign 'nope' in the store to replay"):
        client_for(config.model_copy(update={"replay": True, "replay_campaign": "nope"}), store)
