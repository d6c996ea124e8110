"""Export/import round trips, and ASI-Arch's published format, on both backends."""

import json
from pathlib import Path

import pytest

from asiarch.store.interchange import (
    InterchangeError,
    export_campaign,
    import_asi_arch,
    import_records,
    read_records,
    write_records,
)
from asiarch.store.queries import add_experiment, children, get_or_create_campaign, parent_ids
from asiarch.store.schema import Analysis, Evaluation, Insight, LedgerEntry

SAMPLE = Path(__file__).parent / "fixtures" / "asi_arch_sample.json"


def fill(session):
    campaign = get_or_create_campaign(session, "original", {"stages": {"screen": {}}}, {"torch": "2.13.0"})
    seed = add_experiment(session, campaign, "seed", "code-seed", status="analysed", fitness=0.1)
    child = add_experiment(session, campaign, "child", "code-child", parents=[seed.id], references=[seed.id],
                           status="analysed", fitness=0.4, spec={"rule": "delta"}, operator="mutate")  # fmt: skip
    session.add(Evaluation(experiment_id=child.id, stage="screen", task="mqar", seed=0, lr=0.01, metric="accuracy",
                           value=0.9, splits={"kv4": 0.95}, curve=[[10, 3.2], [20, 1.1]]))  # fmt: skip
    session.add(Analysis(experiment_id=child.id, stage="screen", fitness=0.4, deltas={"mqar": 0.02}, text="better"))
    session.add(Insight(campaign_id=campaign.id, text="gates help", tags=["gate"], source_ids=[child.id]))
    session.add(LedgerEntry(campaign_id=campaign.id, experiment_id=child.id, stage="screen", cpu_s=120.0))
    return campaign


def normalised(records):
    """Records with store ids replaced by positions, so two stores' exports compare equal."""
    records = [dict(r) for r in records]
    position = {r["id"]: i for i, r in enumerate(r for r in records if r["kind"] == "experiment")}
    for record in records:
        record.pop("started_at", None)
        record.pop("ended_at", None)
        record.pop("name", None) if record["kind"] == "campaign" else None
        if record["kind"] == "experiment":
            record["id"] = position[record["id"]]
            record["parents"] = [position[i] for i in record["parents"]]
            record["references"] = [position[i] for i in record["references"]]
        if record["kind"] == "insight":
            record["source_ids"] = [position[i] for i in record["source_ids"]]
        if record["kind"] == "ledger":
            record["experiment_id"] = position[record["experiment_id"]]
    return json.loads(json.dumps(records))


def test_export_then_import_reproduces_the_campaign(store, tmp_path):
    with store.session() as session:
        first = list(export_campaign(session, fill(session)))
    path = tmp_path / "campaign.jsonl"
    assert write_records(path, first) == len(first) == 5
    with store.session() as session:
        copy = import_records(session, read_records(path, asi_arch=False), "copy")
        again = list(export_campaign(session, copy))
    assert normalised(again) == normalised(first)
    with store.session() as session, pytest.raises(InterchangeError, match="already exists"):
        import_records(session, first, "copy")


def test_malformed_files_are_one_line_errors(store, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "campaign"}\n{"kind": "experiment", "id": 1,\n')
    with pytest.raises(InterchangeError, match="line 2: not valid JSON"):
        read_records(bad, asi_arch=False)
    with store.session() as session, pytest.raises(InterchangeError, match="a campaign record must come first"):
        import_records(session, [{"kind": "experiment"}], "x")
    not_asi = tmp_path / "x.json"
    not_asi.write_text('{"something": 1}')
    with pytest.raises(InterchangeError, match="not ASI-Arch data"):
        read_records(not_asi, asi_arch=True)


def test_asi_arch_records_become_imported_experiments_with_their_lineage(store):
    with store.session() as session:
        campaign = import_asi_arch(session, read_records(SAMPLE, asi_arch=True), "asi")
        by_name = {e.name: e for e in campaign.experiments}
        assert set(by_name) == {"delta_net", "delta_net_gated", "delta_net_gated_fir", "orphan"}
        assert {e.status for e in by_name.values()} == {"imported"}
        assert parent_ids(session, by_name["delta_net_gated"].id) == [by_name["delta_net"].id]
        assert parent_ids(session, by_name["delta_net_gated_fir"].id) == [by_name["delta_net_gated"].id]
        assert parent_ids(session, by_name["orphan"].id) == []
        assert children(session, by_name["delta_net"].id) == [by_name["delta_net_gated"].id]
        analysis = session.query(Analysis).filter_by(experiment_id=by_name["delta_net_gated"].id).one()
        assert analysis.fields["asi_arch_score"] == "1.91" and analysis.text == "The gate helps recall."
        assert analysis.fields["asi_arch_test_csv"].startswith(",arc_easy")
        assert by_name["delta_net"].code.startswith("import torch") and by_name["delta_net"].motivation == "The seed."
