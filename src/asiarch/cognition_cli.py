"""The cognition base's commands: ``asiarch cognition search | list | import | add`` (a sub-app of ``cli.app``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from asiarch.cli import ConfigOption, SetOption, _config, app, console, errors, fail
from asiarch.cognition.asi_arch import CognitionImportError, import_asi_arch
from asiarch.cognition.entries import EntryError, load_base, write_entry
from asiarch.cognition.retrieval import open_index
from asiarch.config import Config

DEFAULT_IMPORT_DIR = Path("cognition")
IMPORT_FORMATS = ("asi-arch",)

cognition_app = typer.Typer(
    help="The cognition base: design insights from papers, retrieved for a parent's weaknesses.",
    no_args_is_help=True,
)
app.add_typer(cognition_app, name="cognition")


@cognition_app.command()
def search(
    query: Annotated[str, typer.Argument(help="A weakness or idea in words, e.g. 'recall fails with many keys'.")],
    k: Annotated[Optional[int], typer.Option("--k", min=1, help="Entries to show; default cognition.top_k.")] = None,
    motifs: Annotated[
        Optional[list[str]], typer.Option("--motif", help="Only entries with this motif (repeatable).")
    ] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """The entries that best address QUERY (hybrid BM25 + MiniLM retrieval), best first."""
    cfg = _config(config, overrides)
    try:
        hits = open_index(cfg).search(query, k, motifs)
    except (EntryError, ValueError) as exc:
        fail(str(exc))
    table = Table(title=f"cognition for {query!r}", title_justify="left")
    for column in ("#", "source", "title", "score", "motifs"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), hit.source, hit.title, f"{hit.score:.3f}", " ".join(hit.motifs))
    console.print(table if hits else "no entries match")


@cognition_app.command("list")
def list_command(config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Every entry of the base (shipped and cognition.entry_dirs): source, year, title, tasks, motifs."""
    cfg = _config(config, overrides)
    try:
        entries = load_base(cfg.cognition.entry_dirs)
    except EntryError as exc:
        fail(str(exc))
    table = Table(title=f"cognition base: {len(entries)} entries", title_justify="left")
    for column in ("source", "year", "title", "tasks", "motifs"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        tasks = " ".join(dict.fromkeys(symptom.task for symptom in entry.symptoms))
        table.add_row(entry.source, str(entry.year), entry.title, tasks, " ".join(entry.motifs))
    console.print(table)


def _import_dir(cfg: Config, out: Path | None) -> Path:
    if out is not None:
        return out
    return cfg.cognition.entry_dirs[0] if cfg.cognition.entry_dirs else DEFAULT_IMPORT_DIR


@cognition_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="ASI-Arch cognition files (cognition_base/cognition/*.json).")],
    file_format: Annotated[str, typer.Option("--format", help="Format of the files: asi-arch.")] = "asi-arch",
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="Directory for the YAML entries; default: the first cognition.entry_dirs, else ./cognition."
        ),
    ] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Convert another project's cognition data into our YAML entries (one file per insight)."""
    if file_format not in IMPORT_FORMATS:
        fail(f"unknown --format {file_format!r}; use {', '.join(IMPORT_FORMATS)}")
    cfg = _config(config, overrides)
    directory = _import_dir(cfg, out)
    try:
        converted = {file: import_asi_arch(file) for file in files}
    except CognitionImportError as exc:
        fail(f"{exc} (nothing was written)")
    entries = [entry for imported in converted.values() for entry in imported.entries]
    try:
        for entry in entries:
            write_entry(entry, directory)
    except OSError as exc:
        fail(f"cannot write entries to {directory}: {exc.strerror}; choose a writable --out")
    for file, imported in converted.items():
        for reason in imported.skipped:
            errors.print(f"skipped {file.name} {reason}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"wrote {len(entries)} entries to {directory}", markup=False, highlight=False, soft_wrap=True)
    if directory.resolve() not in {d.resolve() for d in cfg.cognition.entry_dirs}:
        hint = f"to search them, add the directory to the config: --set 'cognition.entry_dirs=[{directory}]'"
        console.print(hint, markup=False, highlight=False, soft_wrap=True)


PAPER_CHARS = 60_000
"""Paper text sent to the extractor by default: about 15k tokens, within common context windows."""


@cognition_app.command("add")
def add_command(
    paper: Annotated[Path, typer.Argument(help="The paper as plain text (e.g. from pdftotext).")],
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="Directory for the entry; default: the first cognition.entry_dirs, else ./cognition."
        ),
    ] = None,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1, help="Send at most this many characters of the paper.")
    ] = PAPER_CHARS,
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Distil a paper into a cognition entry with the `llm.extractor` model (docs/llm.md); read it before use."""
    from asiarch.agents.researcher.llm import LLMResearchError, extract_entry
    from asiarch.cognition.entries import ENTRY_SUFFIX
    from asiarch.llm import LLMError, client_for
    from asiarch.store.db import StoreError, open_store

    cfg = _config(config, overrides)
    try:
        text = paper.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {paper}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{paper} is not UTF-8 text; convert the paper to plain text first (e.g. pdftotext)")
    if len(text) > max_chars:
        errors.print(f"note: only the first {max_chars:,} of {len(text):,} characters are sent (--max-chars)")
        text = text[:max_chars]
    try:
        store = open_store(cfg.store)
    except StoreError as exc:
        fail(str(exc))
    try:
        entry = extract_entry(client_for(cfg.llm, store), text)
    except (LLMError, LLMResearchError) as exc:
        fail(str(exc))
    finally:
        store.close()
    directory = _import_dir(cfg, out)
    if (directory / (entry.source + ENTRY_SUFFIX)).exists():
        fail(f"{directory / (entry.source + ENTRY_SUFFIX)} already exists; remove it or choose another --out")
    try:
        path = write_entry(entry, directory)
    except OSError as exc:
        fail(f"cannot write the entry to {directory}: {exc.strerror}; choose a writable --out")
    console.print(f"wrote {path} ({entry.title}, {entry.year})", markup=False, highlight=False, soft_wrap=True)
