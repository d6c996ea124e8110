"""`asiarch run` and `asiarch serve` wiring: the LLM judges a config switches on, and a missing store."""

from sqlalchemy import select
from typer.testing import CliRunner

from asiarch.cli import app
from asiarch.config import Config
from asiarch.protocols import Proposal
from asiarch.run_cli import build_judges
from asiarch.store.db import open_store
from asiarch.store.queries import get_or_create_campaign
from asiarch.store.schema import LLMCall
from tests.llm.servers import ScriptedServer, chat_reply, endpoint_config


def test_an_offline_campaign_has_no_judges(tmp_path):
    store = open_store(tmp_path / "x.db")
    with store.session() as session:
        campaign_id = get_or_create_campaign(session, "offline").id
    assert build_judges(Config(), store, campaign_id) == {}
    store.close()


def test_switched_on_judges_ask_the_configured_endpoint_and_are_recorded(tmp_path):
    store = open_store(tmp_path / "x.db")
    with store.session() as session:
        campaign_id = get_or_create_campaign(session, "judged").id
    answers = [chat_reply("SCORE: -0.25\nREASON: needless third path"), chat_reply("REPEAT: no\nREASON: new rule")]
    with ScriptedServer(answers) as server:
        config = Config(llm=endpoint_config(server.url))
        config.analyst.judge_weight = 0.2
        config.novelty.llm_judge = True
        judges = build_judges(config, store, campaign_id)
        assert judges["fitness_judge"]("class Mixer: ...", "fitness +0.1") == -0.25
        proposal = Proposal("delta_swap", "overwrite stale keys", "class Mixer: ...")
        assert judges["repeat_judge"](proposal, "Name: delta") is False
    with store.session() as session:
        rows = session.scalars(select(LLMCall).order_by(LLMCall.id)).all()
        assert [(r.agent, r.campaign_id) for r in rows] == [("assessor", campaign_id), ("judge", campaign_id)]
    store.close()



def test_serve_refuses_a_missing_store_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "absent.db")])
    assert result.exit_code == 2 and "no store at" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "absent.db").exists()
