"""A campaign as a publishable, self-describing directory (``asiarch export --bundle``), and back.

A JSON-lines export (``interchange.py``) is for moving a campaign between stores; a bundle is for
readers who were not there: every row of every table the campaign touched, one file per table, a
manifest with the configuration that defined fitness, the provenance of the run and a sha256 per
file, the data sets' names and hashes, each candidate as a plain ``.py`` file, and a README that
says what each file holds. Every column of every row is written, so nothing the store knew is lost;
ids in the files are the exporting store's and are rewired on import, as for the JSON-lines format.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, or_, select
from sqlalchemy.orm import Session

import asiarch
from asiarch.bench.tasks import make_task
from asiarch.bench.tasks.byte_lm import CORPUS_FILE, CORPUS_SHA256, ByteLM
from asiarch.store.interchange import InterchangeError, write_records
from asiarch.store.queries import find_campaign, parent_ids
from asiarch.store.schema import (
    Analysis,
    Base,
    Campaign,
    CognitionEntry,
    Evaluation,
    Experiment,
    GateAttempt,
    Insight,
    LedgerEntry,
    Lineage,
    LLMCall,
)

FORMAT_NAME = "asiarch-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
README = "README.md"
DATASETS = "datasets.json"
CANDIDATES = "candidates"
CORPUS_PACKAGE = "asiarch.bench"
CORPUS_LICENCE = "PYDOC-LICENSE"
CANDIDATE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
CANDIDATE_NAME_LENGTH = 80
"""Candidate file names keep letters, digits, '_', '.', '-' of the experiment name, cut to this length."""
LINEAGE_KEYS = {"parent": "parents", "reference": "references"}
"""Lineage roles, and the experiment record key that lists each role's ids in order."""
EXPERIMENT_EXTRA_KEYS = ("parents", "references", "candidate_file")


@dataclass(frozen=True)
class _Table:
    file: str
    model: type[Base]
    about: str


TABLES = (
    _Table("experiments.jsonl", Experiment, "every experiment: code, spec, motivation, operator, status, failure "
           "gate and reason, stage reached, parameters, fitness, and its lineage (`parents`, `references`: ids in "
           "this file, in order)"),
    _Table("evaluations.jsonl", Evaluation, "every training run: experiment × stage × task × seed, with the "
           "learning rate kept, metric, value, test splits, loss curve and time"),
    _Table("analyses.jsonl", Analysis, "the Analyst's records: fitness, significance tests, deltas against "
           "parent/siblings/references, structured fields and the written analysis"),
    _Table("insights.jsonl", Insight, "insights the campaign wrote, with their tags, the experiments that "
           "support them (`source_ids`) and the support count"),
    _Table("gate_attempts.jsonl", GateAttempt, "every version of every proposal the gates judged, with the "
           "verdicts: repairs are recorded round by round"),
    _Table("llm_calls.jsonl", LLMCall, "every LLM call: agent, model, prompt, response, tokens, cost, latency"),
    _Table("ledger.jsonl", LedgerEntry, "the compute ledger: CPU, GPU and wall seconds by stage and experiment"),
    _Table("cognition.jsonl", CognitionEntry, "the cognition entries (design insights from papers) recorded in "
           "the store, which the researcher retrieved from"),
)  # fmt: skip
TABLE_FILES = {table.file: table for table in TABLES}


class BundleError(InterchangeError):
    """A bundle that cannot be written or read, as one line naming the file and the fix."""


def export_bundle(session: Session, campaign: Campaign, directory: Path) -> dict[str, int]:
    """Write the campaign as a bundle into ``directory`` (new or empty); returns rows written per file."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BundleError(f"bundle directory {directory} exists and is not empty; choose a new directory")
    try:
        (directory / CANDIDATES).mkdir(parents=True, exist_ok=True)
        experiments = list(_experiment_records(session, campaign))
        for record in experiments:
            (directory / record["candidate_file"]).write_text(record["code"], encoding="utf-8")
        ids = [record["id"] for record in experiments]
        counts = {TABLES[0].file: write_records(directory / TABLES[0].file, experiments)}
        for table in TABLES[1:]:
            counts[table.file] = write_records(directory / table.file, map(_row, _rows(session, table, campaign, ids)))
        (directory / DATASETS).write_text(json.dumps(datasets(campaign.config), indent=1), encoding="utf-8")
        (directory / README).write_text(_readme(campaign, counts), encoding="utf-8")
        manifest = _manifest(campaign, counts, directory)
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"cannot write bundle {directory}: {exc.strerror}; choose a writable directory") from exc
    return counts


def _experiment_records(session: Session, campaign: Campaign) -> Iterator[dict[str, Any]]:
    query = select(Experiment).where(Experiment.campaign_id == campaign.id).order_by(Experiment.id)
    for experiment in session.scalars(query):
        lineage = {key: parent_ids(session, experiment.id, role) for role, key in LINEAGE_KEYS.items()}
        yield {**_row(experiment), **lineage, "candidate_file": _candidate_file(experiment.id, experiment.name)}


def _candidate_file(experiment_id: int, name: str) -> str:
    safe = CANDIDATE_NAME_CHARS.sub("_", name).strip("._")[:CANDIDATE_NAME_LENGTH] or "candidate"
    return f"{CANDIDATES}/{experiment_id}-{safe}.py"


def _rows(session: Session, table: _Table, campaign: Campaign, experiment_ids: list[int]) -> Iterable[Base]:
    model = table.model
    if model is CognitionEntry:
        query = select(model)
    elif model is LLMCall:
        query = select(model).where(or_(model.campaign_id == campaign.id, model.experiment_id.in_(experiment_ids)))
    elif hasattr(model, "campaign_id"):
        query = select(model).where(model.campaign_id == campaign.id)
    else:
        query = select(model).where(model.experiment_id.in_(experiment_ids))
    return session.scalars(query.order_by(model.id))


LOCAL_COLUMNS = ("campaign_id", "claimed_by")
"""Left out of a bundle: the campaign link (a bundle is one campaign) and which orchestrator held an experiment
(bookkeeping of the store that ran it, meaningless in another)."""


def _row(item: Base) -> dict[str, Any]:
    """Every column but the store-local ones, times as ISO 8601 text."""
    row = {}
    for column in item.__table__.columns:
        if column.name in LOCAL_COLUMNS:
            continue
        value = getattr(item, column.name)
        row[column.name] = value.isoformat() if isinstance(value, datetime) else value
    return row


def datasets(config: dict[str, Any]) -> dict[str, Any]:
    """The data every number was measured on: the shipped corpus by hash, and each stage's task generators by
    their full parameters (defaults filled in), as the campaign's config snapshot defined them."""
    compressed = resources.files(CORPUS_PACKAGE).joinpath("data", CORPUS_FILE).read_bytes()
    stages: dict[str, dict[str, Any]] = {}
    for stage_name, stage in (config.get("stages") or {}).items():
        for label, run in stage.get("tasks", {}).items():
            stages.setdefault(stage_name, {})[label] = _task_data(run)
    return {
        "corpus": {
            "name": CORPUS_FILE,
            "location": f"{CORPUS_PACKAGE.replace('.', '/')}/data/{CORPUS_FILE}",
            "sha256": hashlib.sha256(compressed).hexdigest(),
            "uncompressed_sha256": CORPUS_SHA256,
            "licence": f"{CORPUS_PACKAGE.replace('.', '/')}/data/{CORPUS_LICENCE}",
        },
        "stage_tasks": stages,
    }


def _task_data(run: dict[str, Any]) -> dict[str, Any]:
    """A task's data source and full generator parameters; a task this version no longer knows keeps the
    parameters as recorded, so an old campaign still exports."""
    try:
        task = make_task(run.get("task", ""), run.get("params"))
    except ValueError as exc:
        return {"task": run.get("task"), "data": f"unknown to asiarch {asiarch.__version__}: {exc}",
                "params": run.get("params", {})}  # fmt: skip
    data = f"corpus {CORPUS_FILE}" if isinstance(task, ByteLM) else "synthetic generator"
    return {"task": run["task"], "data": data, "params": task.params.model_dump(mode="json")}


def fitness_definition(config: dict[str, Any]) -> dict[str, Any]:
    """What fitness meant in this campaign: the Analyst's settings and each stage's task weights."""
    weights = {
        stage_name: {label: run.get("weight", 1.0) for label, run in stage.get("tasks", {}).items()}
        for stage_name, stage in (config.get("stages") or {}).items()
    }
    return {"analyst": config.get("analyst"), "stage_task_weights": weights, "references": config.get("references")}


def _manifest(campaign: Campaign, counts: dict[str, int], directory: Path) -> dict[str, Any]:
    files = [*counts, DATASETS, README]
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "campaign": campaign.name,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "asiarch_version": asiarch.__version__,
        "campaign_state": campaign.state,
        "started_at": campaign.started_at.isoformat(),
        "ended_at": campaign.ended_at.isoformat() if campaign.ended_at else None,
        "provenance": campaign.provenance,
        "fitness_definition": fitness_definition(campaign.config),
        "config": campaign.config,
        "rows": counts,
        "sha256": {name: _sha256(directory / name) for name in files},
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows_phrase(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _readme(campaign: Campaign, counts: dict[str, int]) -> str:
    tables = "\n".join(f"- `{table.file}` ({_rows_phrase(counts[table.file])}): {table.about}." for table in TABLES)
    return f"""# Campaign `{campaign.name}`: an asiarch bundle

Written by asiarch {asiarch.__version__} (format `{FORMAT_NAME}` version {FORMAT_VERSION}). Every file is plain
JSON or JSON lines (one object per line); ids refer to rows of this bundle; times are ISO 8601 in UTC. A run that
diverged has a non-finite value, written `Infinity` or `NaN` as Python's `json` module reads and writes them.

- `{MANIFEST}`: what this is (format, campaign, times, asiarch version), where it ran (`provenance`: package
  versions, git commit, CPU/GPU), the full configuration snapshot (`config`), what fitness meant
  (`fitness_definition`: the Analyst's settings, each stage's task weights, the reference architectures), the
  row count of each table file and the sha256 of every file.
- `{DATASETS}`: the data every number was measured on — the shipped text corpus by name and sha256 (of the
  compressed file and of the text), and each stage's tasks with their generator parameters.
{tables}
- `{CANDIDATES}/<id>-<name>.py`: each experiment's code as a file that `asiarch check` and `asiarch eval` take.

How fitness is computed: per task, the candidate's mean improvement over the strongest reference architecture at
that stage, divided by the references' seed-to-seed spread (with a floor), then averaged over tasks with the
weights in `fitness_definition`; a missing or non-finite result never scores well. See the asiarch README,
"How it decides".

Read it back into a store with `asiarch import <this directory> [--campaign NAME]`; there, `asiarch replicate ID`
re-runs an experiment and its references on fresh seeds and says whether its result holds.
"""


def import_bundle(session: Session, directory: Path, campaign_name: str | None = None) -> Campaign:
    """Read a bundle into the store as a new campaign (its own name unless ``campaign_name``), rewiring ids."""
    manifest = read_manifest(directory)
    name = campaign_name or manifest["campaign"]
    if find_campaign(session, name) is not None:
        raise BundleError(f"campaign {name!r} already exists; import under another --campaign name")
    for file, expected in manifest.get("sha256", {}).items():
        if file in TABLE_FILES and _sha256(_existing(directory, file)) != expected:
            raise BundleError(f"{directory / file} does not match the sha256 in its manifest; the bundle was changed "
                              "after export, export it again")  # fmt: skip
    campaign = Campaign(
        name=name,
        config=manifest.get("config") or {},
        provenance={**(manifest.get("provenance") or {}), "bundle": {"path": str(directory.resolve()),
                    "created_at": manifest.get("created_at"), "asiarch_version": manifest.get("asiarch_version")}},
        started_at=_time(manifest.get("started_at")) or datetime.now(timezone.utc),
        ended_at=_time(manifest.get("ended_at")),
        state=manifest.get("campaign_state", "finished"),
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    new_ids = _import_experiments(session, campaign, directory)
    for table in TABLES[1:]:
        existing = set(session.scalars(select(CognitionEntry.source))) if table.model is CognitionEntry else set()
        for number, record in _read_jsonl(directory, table.file):
            if table.model is CognitionEntry and record.get("source") in existing:
                continue
            session.add(table.model(**_columns(table, record, campaign, new_ids, directory, number)))
    session.flush()
    return campaign


def read_manifest(directory: Path) -> dict[str, Any]:
    """The bundle's manifest, checked to be one this version of asiarch can read."""
    try:
        manifest = json.loads(_existing(directory, MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {directory / MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError(f"{directory} is not an asiarch bundle ({MANIFEST} lacks format {FORMAT_NAME!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{directory} is bundle format version {manifest.get('format_version')}; this asiarch "
                          f"reads version {FORMAT_VERSION}, upgrade asiarch")  # fmt: skip
    if not isinstance(manifest.get("campaign"), str):
        raise BundleError(f"{directory / MANIFEST} names no campaign; export the bundle again")
    return manifest


def _import_experiments(session: Session, campaign: Campaign, directory: Path) -> dict[int, int]:
    table = TABLES[0]
    records = list(_read_jsonl(directory, table.file))
    new_ids: dict[int, int] = {}
    for number, record in records:
        lineage = {key: record.get(key, []) for key in EXPERIMENT_EXTRA_KEYS}
        fields = {key: value for key, value in record.items() if key not in lineage}
        experiment = Experiment(**_columns(table, fields, campaign, new_ids, directory, number))
        session.add(experiment)
        session.flush()
        new_ids[record["id"]] = experiment.id
    for number, record in records:
        for role, key in LINEAGE_KEYS.items():
            for position, old in enumerate(record.get(key, [])):
                parent = _mapped(new_ids, old, directory / table.file, number)
                session.add(Lineage(child_id=new_ids[record["id"]], parent_id=parent, role=role, position=position))
    return new_ids


def _columns(
    table: _Table, record: dict[str, Any], campaign: Campaign, new_ids: dict[int, int], directory: Path, number: int
) -> dict[str, Any]:
    """A bundle record as constructor arguments: its own id dropped, experiment ids rewired, times parsed."""
    where = directory / table.file
    columns = {column.name: column for column in table.model.__table__.columns}
    unknown = [key for key in record if key not in columns]
    if unknown:
        raise BundleError(f"{where} line {number}: unknown field {unknown[0]!r}; written by a newer asiarch?")
    if table.model is Experiment and not {"id", "name", "code"} <= record.keys():
        raise BundleError(f"{where} line {number}: an experiment needs 'id', 'name' and 'code'")
    values = {key: value for key, value in record.items() if key != "id"}
    for key, value in values.items():
        if isinstance(columns[key].type, DateTime) and value is not None:
            values[key] = _time(value, where, number)
    if values.get("experiment_id") is not None:
        values["experiment_id"] = _mapped(new_ids, values["experiment_id"], where, number)
    if table.model is Insight:
        values["source_ids"] = [new_ids[i] for i in values.get("source_ids", []) if i in new_ids]
    if "campaign_id" in columns:
        values["campaign_id"] = campaign.id
    return values


def _mapped(new_ids: dict[int, int], old: int, where: Path, number: int) -> int:
    if old not in new_ids:
        raise BundleError(f"{where} line {number}: refers to experiment {old}, which is not in the bundle")
    return new_ids[old]


def _read_jsonl(directory: Path, file: str) -> Iterator[tuple[int, dict[str, Any]]]:
    path = _existing(directory, file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BundleError(f"{path} line {number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise BundleError(f"{path} line {number}: expected a JSON object")
        yield number, record


def _existing(directory: Path, file: str) -> Path:
    path = directory / file
    if not path.is_file():
        raise BundleError(f"{directory} lacks {file}; it is not a complete asiarch bundle")
    return path


def _time(value: Any, where: Path | None = None, number: int = 0) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        place = f"{where} line {number}" if where else "manifest"
        raise BundleError(f"{place}: {value!r} is not an ISO 8601 time") from exc
