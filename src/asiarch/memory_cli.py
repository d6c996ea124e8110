"""The store's commands: status, leaderboard, show, export, import (registered on ``cli.app``)."""

from __future__ import annotations

import difflib
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.syntax import Syntax
from rich.table import Table

from asiarch.cli import ConfigOption, SetOption, _config, app, console, fail
from asiarch.store.bundle import export_bundle, import_bundle
from asiarch.store.claims import live_orchestrators
from asiarch.store.db import Store, StoreError, open_store, open_store_readonly
from asiarch.store.interchange import (
    InterchangeError,
    export_campaign,
    import_asi_arch,
    import_records,
    read_records,
    write_records,
)
from asiarch.store.queries import (
    analyses_of,
    campaigns,
    compute_totals,
    count_experiments,
    evaluations_of,
    find_campaign,
    leaderboard,
    parent_ids,
    status_counts,
)
from asiarch.store.schema import Campaign, Experiment

CampaignOption = Annotated[Optional[str], typer.Option("--campaign", help="Campaign name; default: all campaigns.")]


def _store(config: Path | None, overrides: list[str] | None, *, read_only: bool = False) -> Store:
    cfg = _config(config, overrides)
    try:
        return open_store_readonly(cfg.store) if read_only else open_store(cfg.store)
    except StoreError as exc:
        fail(str(exc))


def _campaign(session, name: str) -> Campaign:  # noqa: ANN001 - a Session
    found = find_campaign(session, name)
    if found is None:
        known = ", ".join(c.name for c in campaigns(session)) or "none yet"
        fail(f"no campaign {name!r} in the store; campaigns: {known}")
    return found


@app.command()
def status(campaign: CampaignOption = None, config: ConfigOption = None, overrides: SetOption = None) -> None:
    """State (with the orchestrators running it), experiments by status, best fitness and compute spent, per
    campaign in the store."""
    lease_s = _config(config, overrides).campaign.lease_s
    store = _store(config, overrides)
    table = Table(title="campaigns", title_justify="left")
    for column in ("campaign", "started", "experiments", "by status", "best fitness", "CPU h", "GPU h"):
        table.add_column(column)
    states: list[str] = []
    with store.session() as session:
        chosen = [_campaign(session, campaign)] if campaign else campaigns(session)
        for item in chosen:
            counts = status_counts(session, item)
            best = leaderboard(session, item, top=1)
            totals = compute_totals(session, item).values()
            live = len(live_orchestrators(session, item.id, lease_s))
            states.append(f"{item.name}: {item.state}" + (f", {live} orchestrator{'s' if live > 1 else ''} alive"
                                                          if live else ""))  # fmt: skip
            table.add_row(
                item.name,
                f"{item.started_at:%Y-%m-%d %H:%M}",
                str(sum(counts.values())),
                ", ".join(f"{name} {count}" for name, count in sorted(counts.items())),
                f"{best[0].fitness:.3f}" if best else "–",
                f"{sum(t['cpu_s'] for t in totals) / 3600:.2f}",
                f"{sum(t['gpu_s'] for t in totals) / 3600:.2f}",
            )
    console.print(table if chosen else "the store holds no campaigns yet")
    for line in states:
        console.print(line, highlight=False, markup=False)


@app.command("leaderboard")
def leaderboard_command(
    campaign: CampaignOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many experiments to list.")] = 20,
    status_filter: Annotated[Optional[str], typer.Option("--status", help="Only this status.")] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """The fittest experiments, best first."""
    store = _store(config, overrides)
    with store.session() as session:
        chosen = [_campaign(session, campaign)] if campaign else campaigns(session)
        console.print(leaderboard_table(session, chosen, top, status_filter))


def leaderboard_table(session, chosen: list[Campaign], top: int, status_filter: str | None = None) -> Table:  # noqa: ANN001
    """The fittest experiments of some campaigns, best first, as a rich table."""
    table = Table(title="leaderboard", title_justify="left")
    for column in ("#", "id", "campaign", "name", "status", "stage", "fitness", "operator"):
        table.add_column(column)
    rows = sorted((e for c in chosen for e in leaderboard(session, c, top, status_filter)), key=lambda e: -e.fitness)
    names = {c.id: c.name for c in chosen}
    for rank, e in enumerate(rows[:top], start=1):
        table.add_row(str(rank), str(e.id), names[e.campaign_id], e.name, e.status, e.stage_reached or "–",
                      f"{e.fitness:.3f}", e.operator)  # fmt: skip
    return table


@app.command()
def show(
    experiment_id: Annotated[int, typer.Argument(help="Experiment id (see `asiarch leaderboard`).")],
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """One experiment: motivation, code, the diff against its parent, results and analysis."""
    store = _store(config, overrides)
    with store.session() as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            fail(f"no experiment {experiment_id} in the store; list them with `asiarch leaderboard`")
        parents = parent_ids(session, experiment.id)
        parent = session.get(Experiment, parents[0]) if parents else None
        console.rule(f"experiment {experiment.id} · {experiment.name} · {experiment.status}")
        if experiment.failure_reason:
            console.print(f"[red]failed at {experiment.failure_gate}[/]: {experiment.failure_reason}", highlight=False)
        console.print(experiment.motivation or "(no motivation recorded)", highlight=False, markup=False)
        console.print(Syntax(experiment.code, "python", line_numbers=True))
        if parent is not None:
            diff = difflib.unified_diff(parent.code.splitlines(), experiment.code.splitlines(),
                                        f"{parent.id} {parent.name}", f"{experiment.id} {experiment.name}", lineterm="")  # fmt: skip
            console.print(Syntax("\n".join(diff) or "(identical code)", "diff"))
        console.print(_results_table(evaluations_of(session, experiment.id)))
        for analysis in analyses_of(session, experiment.id):
            console.rule(f"analysis · {analysis.stage}")
            console.print(analysis.text or analysis.fields, highlight=False, markup=False)


def _results_table(evaluations) -> Table:  # noqa: ANN001 - Evaluation rows
    grouped = defaultdict(list)
    for evaluation in evaluations:
        grouped[(evaluation.stage, evaluation.task, evaluation.metric)].append(evaluation.value)
    table = Table(title="results (mean ± sd over seeds)", title_justify="left")
    for column in ("stage", "task", "metric", "seeds", "value"):
        table.add_column(column)
    for (stage, task, metric), values in grouped.items():
        spread = f" ± {statistics.stdev(values):.4g}" if len(values) > 1 else ""
        table.add_row(stage, task, metric, str(len(values)), f"{statistics.fmean(values):.4g}{spread}")
    return table


@app.command("export")
def export_command(
    campaign: Annotated[str, typer.Argument(help="Campaign to export.")],
    out: Annotated[Optional[Path], typer.Argument(help="Output file (JSON lines).")] = None,
    bundle: Annotated[
        Optional[Path], typer.Option("--bundle", help="Write a publishable, self-describing bundle directory instead.")
    ] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Write a campaign (experiments, lineage, results, analyses, insights, ledger) as JSON lines, or a bundle.

    A bundle (--bundle DIR) is a publishable directory: every table, each candidate's code, the config with the
    fitness definition, provenance, the data sets' hashes and a README saying what each file holds."""
    if (out is None) == (bundle is None):
        fail("give an output file (JSON lines) or --bundle DIR, exactly one of them")
    store = _store(config, overrides)
    if bundle is not None:
        with store.session() as session:
            try:
                counts = export_bundle(session, _campaign(session, campaign), bundle)
            except InterchangeError as exc:
                fail(str(exc))
        console.print(f"wrote bundle {bundle}: {counts['experiments.jsonl']} experiments, {sum(counts.values())} rows")
        return
    with store.session() as session:
        records = list(export_campaign(session, _campaign(session, campaign)))
    try:
        count = write_records(out, records)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}; choose a writable path")
    console.print(f"wrote {count} records to {out}")


@app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="A file from `asiarch export`, a bundle directory, or ASI-Arch's JSON data.")
    ],
    campaign: Annotated[
        Optional[str], typer.Option("--campaign", help="Name of the campaign to create (a bundle's own by default).")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="asiarch (JSON lines) or asi-arch.")] = "asiarch",
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Import a campaign from a file or a bundle directory; ASI-Arch's architectures become experiments with
    status 'imported'."""
    if file_format not in ("asiarch", "asi-arch"):
        fail(f"unknown --format {file_format!r}; use asiarch or asi-arch")
    if file.is_dir():
        _import_bundle(file, campaign, file_format, config, overrides)
        return
    if campaign is None:
        fail("--campaign NAME is required when importing a file (only a bundle directory carries its own name)")
    store = _store(config, overrides)
    try:
        records = read_records(file, asi_arch=file_format == "asi-arch")
        with store.session() as session:
            importer = import_asi_arch if file_format == "asi-arch" else import_records
            count = len(importer(session, records, campaign).experiments)
    except InterchangeError as exc:
        fail(str(exc))
    console.print(f"imported {count} experiments into campaign {campaign!r}")


def _import_bundle(
    directory: Path, campaign: str | None, file_format: str, config: Path | None, overrides: list[str] | None
) -> None:
    if file_format != "asiarch":
        fail(f"{directory} is a directory: only asiarch bundles are read from directories, not --format {file_format}")
    store = _store(config, overrides)
    try:
        with store.session() as session:
            imported = import_bundle(session, directory, campaign)
            name, count = imported.name, count_experiments(session, imported)
    except InterchangeError as exc:
        fail(str(exc))
    console.print(f"imported {count} experiments from bundle {directory} into campaign {name!r}")
