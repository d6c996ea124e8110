"""Moving campaigns in and out of the store: our JSON-lines format, and ASI-Arch's published data.

Our format is one JSON object per line: a ``campaign`` record, then one ``experiment`` record per
experiment (with its lineage, evaluations and analyses inline), then ``insight`` and ``ledger``
records. Ids in a file are the exporting store's; an import assigns new ones and rewires the
lineage, so a file can be imported into any store, any number of times, as new campaigns.

ASI-Arch's gallery and tree files (a JSON list, or ``{"results": [...]}``) hold records with
``name``, ``program``, ``motivation``, ``parent`` (another record's ``index``), ``result`` (train
and test CSV text) and ``score``; they become experiments with status ``imported`` whose code our
pipeline can re-evaluate and evolve, with ASI-Arch's own numbers kept in an analysis record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from asiarch.store.queries import add_experiment, get_or_create_campaign, parent_ids
from asiarch.store.schema import Analysis, Campaign, Evaluation, Experiment, Insight, LedgerEntry

FORMAT_VERSION = 1
EXPERIMENT_FIELDS = (
    "name", "code", "spec", "motivation", "operator", "researcher", "status", "failure_gate", "failure_reason",
    "stage_reached", "parameters", "fitness",
)  # fmt: skip
EVALUATION_FIELDS = ("stage", "task", "seed", "lr", "metric", "value", "splits", "curve", "wall_s", "cpu_s", "device",
                     "threads")  # fmt: skip
ANALYSIS_FIELDS = ("stage", "fitness", "significance", "deltas", "fields", "text")
ASI_ARCH_STAGE = "asi-arch"


class InterchangeError(ValueError):
    """A file that cannot be imported, as one line naming the record and the problem."""


def export_campaign(session: Session, campaign: Campaign) -> Iterator[dict[str, Any]]:
    """Every record of a campaign, in an order an import can replay."""
    yield {"kind": "campaign", "format": FORMAT_VERSION, "name": campaign.name, "config": campaign.config,
           "provenance": campaign.provenance, "started_at": _time(campaign.started_at),
           "ended_at": _time(campaign.ended_at)}  # fmt: skip
    experiments = session.scalars(
        select(Experiment).where(Experiment.campaign_id == campaign.id).order_by(Experiment.id)
    )
    for experiment in experiments:
        analyses = session.scalars(select(Analysis).where(Analysis.experiment_id == experiment.id))
        yield {
            "kind": "experiment",
            "id": experiment.id,
            **{field: getattr(experiment, field) for field in EXPERIMENT_FIELDS},
            "parents": parent_ids(session, experiment.id),
            "references": parent_ids(session, experiment.id, "reference"),
            "evaluations": [{f: getattr(e, f) for f in EVALUATION_FIELDS} for e in experiment.evaluations],
            "analyses": [{f: getattr(a, f) for f in ANALYSIS_FIELDS} for a in analyses],
        }
    for insight in session.scalars(select(Insight).where(Insight.campaign_id == campaign.id)):
        yield {"kind": "insight", "text": insight.text, "tags": insight.tags, "source_ids": insight.source_ids,
               "support": insight.support}  # fmt: skip
    for entry in session.scalars(select(LedgerEntry).where(LedgerEntry.campaign_id == campaign.id)):
        yield {"kind": "ledger", "experiment_id": entry.experiment_id, "stage": entry.stage, "cpu_s": entry.cpu_s,
               "gpu_s": entry.gpu_s, "wall_s": entry.wall_s}  # fmt: skip


def import_records(session: Session, records: Iterable[dict[str, Any]], campaign_name: str) -> Campaign:
    """Replay an exported campaign into a new campaign called ``campaign_name``."""
    if session.scalar(select(Campaign).where(Campaign.name == campaign_name)) is not None:
        raise InterchangeError(f"campaign {campaign_name!r} already exists; import under another --campaign name")
    campaign: Campaign | None = None
    new_ids: dict[int, int] = {}
    for number, record in enumerate(records, start=1):
        kind = record.get("kind")
        if kind == "campaign":
            campaign = get_or_create_campaign(session, campaign_name, record.get("config"), record.get("provenance"))
            continue
        if campaign is None:
            raise InterchangeError(f"record {number}: a campaign record must come first (got {kind!r})")
        if kind == "experiment":
            new_ids[record["id"]] = _import_experiment(session, campaign, record, new_ids, number).id
        elif kind == "insight":
            sources = [new_ids[i] for i in record.get("source_ids", []) if i in new_ids]
            session.add(Insight(campaign_id=campaign.id, text=record["text"], tags=record.get("tags", []),
                                source_ids=sources, support=record.get("support", 1)))  # fmt: skip
        elif kind == "ledger":
            session.add(LedgerEntry(campaign_id=campaign.id, experiment_id=new_ids.get(record.get("experiment_id")),
                                    stage=record["stage"], cpu_s=record.get("cpu_s", 0.0),
                                    gpu_s=record.get("gpu_s", 0.0), wall_s=record.get("wall_s", 0.0)))  # fmt: skip
        else:
            raise InterchangeError(f"record {number}: unknown kind {kind!r}; expected campaign, experiment, insight "
                                   "or ledger")  # fmt: skip
    if campaign is None:
        raise InterchangeError("the file holds no campaign record; export one with `asiarch export`")
    return campaign


def _import_experiment(
    session: Session, campaign: Campaign, record: dict[str, Any], new_ids: dict[int, int], number: int
) -> Experiment:
    missing = [f for f in ("id", "name", "code") if f not in record]
    if missing:
        raise InterchangeError(f"record {number}: experiment without {missing[0]!r}")
    fields = {f: record[f] for f in EXPERIMENT_FIELDS if f in record and f not in ("name", "code")}
    experiment = add_experiment(
        session,
        campaign,
        record["name"],
        record["code"],
        parents=[new_ids[i] for i in record.get("parents", []) if i in new_ids],
        references=[new_ids[i] for i in record.get("references", []) if i in new_ids],
        **fields,
    )
    for evaluation in record.get("evaluations", []):
        session.add(Evaluation(experiment_id=experiment.id, **{f: evaluation[f] for f in EVALUATION_FIELDS if f in
                                                                evaluation}))  # fmt: skip
    for analysis in record.get("analyses", []):
        session.add(Analysis(experiment_id=experiment.id, **{f: analysis[f] for f in ANALYSIS_FIELDS if f in analysis}))
    return experiment


def import_asi_arch(session: Session, records: Iterable[dict[str, Any]], campaign_name: str) -> Campaign:
    """ASI-Arch's records as ``imported`` experiments, lineage rewired by their ``index``/``parent``."""
    campaign = get_or_create_campaign(session, campaign_name, provenance={"imported_from": "ASI-Arch"})
    by_index: dict[str, int] = {}
    for number, record in enumerate(sorted(records, key=_asi_arch_order), start=1):
        if not isinstance(record, dict) or "program" not in record or "name" not in record:
            raise InterchangeError(f"ASI-Arch record {number}: needs at least 'name' and 'program'")
        parent = str(record.get("parent"))
        experiment = add_experiment(
            session,
            campaign,
            str(record["name"]),
            str(record["program"]),
            parents=[by_index[parent]] if parent in by_index else [],
            motivation=str(record.get("motivation", "")),
            operator="imported",
            researcher="asi-arch",
            status="imported",
        )
        by_index[str(record.get("index", f"#{number}"))] = experiment.id
        session.add(Analysis(experiment_id=experiment.id, stage=ASI_ARCH_STAGE, fields=_asi_arch_fields(record),
                             text=str(record.get("analysis", "")), fitness=None))  # fmt: skip
    return campaign


def _asi_arch_order(record: Any) -> tuple[int, str]:
    """Parents before children: ASI-Arch indices grow over time; records without one go last."""
    index = str(record.get("index", "")) if isinstance(record, dict) else ""
    return (int(index), "") if index.isdigit() else (1 << 62, index)


def _asi_arch_fields(record: dict[str, Any]) -> dict[str, Any]:
    kept = {key: record[key] for key in ("index", "parent", "score", "summary", "parameters", "name_new", "cognition")
            if key in record}  # fmt: skip
    result = record.get("result") or {}
    if isinstance(result, dict):
        kept.update({f"{split}_csv": result[split] for split in ("train", "test") if split in result})
    return {f"asi_arch_{key}": value for key, value in kept.items()}


def read_records(path: Path, asi_arch: bool) -> list[dict[str, Any]]:
    """Records from a JSON-lines file (ours) or a JSON list / ``{"results": [...]}`` file (ASI-Arch's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InterchangeError(f"cannot read {path}: {exc}") from exc
    if not asi_arch:
        return [_json(line, path, number) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    loaded = _json(text, path, 0)
    records = loaded.get("results") if isinstance(loaded, dict) else loaded
    if not isinstance(records, list):
        raise InterchangeError(f"{path} is not ASI-Arch data: expected a list of records or {{'results': [...]}}")
    return records


def _json(text: str, path: Path, line: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InterchangeError(f"{path} line {line or exc.lineno}: not valid JSON ({exc.msg})") from exc


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, default=str) + "\n")
            count += 1
    return count


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
