"""``asiarch cognition add``: a paper's text to a validated entry through the extractor agent, recorded and
replayable, against a local OpenAI-protocol server."""

from sqlalchemy import select

from asiarch.cognition.entries import read_entry
from asiarch.store.db import open_store
from asiarch.store.schema import LLMCall
from tests.agents.researcher.test_llm_researcher import ENTRY_YAML
from tests.llm.servers import ScriptedServer, chat_reply
from tests.test_cli import invoke


def add(paper, out, store, url: str, *extra: str):
    settings = {
        "store": store,
        "llm.extractor.base_url": f"{url}/v1",
        "llm.extractor.api_key_env": "''",
        "llm.extractor.backoff_s": 0.01,
        "llm.extractor.max_retries": 0,
    }
    options = [part for key, value in settings.items() for part in ("--set", f"{key}={value}")]
    return invoke("cognition", "add", str(paper), "--out", str(out), *options, *extra)


def test_add_writes_a_valid_entry_and_replays_it_without_the_server(tmp_path):
    paper, store = tmp_path / "paper.txt", tmp_path / "x.db"
    paper.write_text("We overwrite what a key stored.", encoding="utf-8")
    with ScriptedServer([chat_reply(ENTRY_YAML)]) as server:
        result = add(paper, tmp_path / "live", store, server.url)
    assert result.exit_code == 0, result.output
    entry = read_entry(tmp_path / "live" / "toy-2024.yaml")
    assert entry.title == "A Toy Paper" and entry.motifs == ("rule:delta", "feature:l2")
    assert "We overwrite what a key stored." in server.requests[0]["messages"][0]["content"]
    opened = open_store(store)
    with opened.session() as session:
        [row] = session.scalars(select(LLMCall)).all()
        assert (row.agent, row.campaign_id, row.response) == ("extractor", None, ENTRY_YAML)
    opened.close()

    replayed = add(paper, tmp_path / "replayed", store, server.url, "--set", "llm.replay=true")
    assert replayed.exit_code == 0, replayed.output
    assert read_entry(tmp_path / "replayed" / "toy-2024.yaml") == entry


def test_add_fails_with_one_line(tmp_path):
    paper, store = tmp_path / "paper.txt", tmp_path / "x.db"
    paper.write_text("text", encoding="utf-8")
    with ScriptedServer([chat_reply("no yaml here"), chat_reply("still none")]) as server:
        result = add(paper, tmp_path / "out", store, server.url)
    assert result.exit_code == 2
    assert "extractor's answer was unusable twice" in result.output and "```yaml block" in result.output
    assert not (tmp_path / "out").exists()

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "toy-2024.yaml").write_text("hand-written", encoding="utf-8")
    with ScriptedServer([chat_reply(ENTRY_YAML)]) as server:
        clash = add(paper, tmp_path / "out", store, server.url)
    assert clash.exit_code == 2 and "already exists" in clash.output
    assert (tmp_path / "out" / "toy-2024.yaml").read_text(encoding="utf-8") == "hand-written"
