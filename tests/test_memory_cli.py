"""The store's commands, on a real SQLite store in a temporary directory."""

from pathlib import Path

from asiarch.store.claims import join_campaign, leave_campaign
from asiarch.store.db import open_store
from asiarch.store.queries import get_or_create_campaign
from tests.test_cli import invoke

SAMPLE = Path(__file__).parent / "store" / "fixtures" / "asi_arch_sample.json"


def run(store: Path, *args: str):
    return invoke(*args, "--set", f"store={store}")


def test_import_status_show_export_round_trip(tmp_path):
    store = tmp_path / "memory.db"
    assert "no campaigns yet" in run(store, "status").output
    imported = run(store, "import", str(SAMPLE), "--campaign", "asi", "--format", "asi-arch")
    assert imported.exit_code == 0 and "imported 4 experiments" in imported.output
    status = run(store, "status")
    assert "asi" in status.output and "imported 4" in status.output
    shown = run(store, "show", "2")
    assert shown.exit_code == 0 and "delta_net_gated" in shown.output and '+    """gated"""' in shown.output
    exported = tmp_path / "asi.jsonl"
    assert run(store, "export", "asi", str(exported)).exit_code == 0
    again = run(store, "import", str(exported), "--campaign", "copy")
    assert again.exit_code == 0 and "imported 4 experiments into campaign 'copy'" in again.output


def test_store_commands_fail_with_one_line(tmp_path):
    store = tmp_path / "memory.db"
    for args, expected in [
        (("show", "7"), "no experiment 7"),
        (("export", "missing", str(tmp_path / "x.jsonl")), "no campaign 'missing'"),
        (("import", str(SAMPLE), "--campaign", "x", "--format", "mongo"), "unknown --format"),
        (("import", str(SAMPLE), "--campaign", "x"), "not valid JSON"),
        (("leaderboard", "--campaign", "nope"), "no campaign 'nope'"),
    ]:
        result = run(store, *args)
        assert result.exit_code == 2 and expected in result.output, (args, result.output)
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_status_shows_the_campaign_state_and_its_live_orchestrators(tmp_path):
    store_path = tmp_path / "memory.db"
    store = open_store(store_path)
    with store.session() as session:
        campaign_id = get_or_create_campaign(session, "shared").id
    first = join_campaign(store, campaign_id, lease_s=60)
    join_campaign(store, campaign_id, lease_s=60)
    assert "shared: running, 2 orchestrators alive" in run(store_path, "status").output
    leave_campaign(store, campaign_id, first, lease_s=60)
    assert "shared: running, 1 orchestrator alive" in run(store_path, "status").output
