"""Cognition entries: one YAML file per paper, validated on load, and recorded in a campaign's memory.

An entry is the unit the Researcher retrieves, so a malformed one must fail loudly at load time with
the file and the problem on one line, never surface later as a half-empty prompt. Validation is
strict (unknown keys, unknown motifs and unknown task names are errors) because a typo in a motif id
would silently cut an entry off from the grammar and the Analyst's credit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from asiarch.cognition.motifs import MOTIFS, unknown_motifs
from asiarch.store.schema import CognitionEntry

ENTRIES_DIR = Path(__file__).parent / "entries"
ENTRY_SUFFIX = ".yaml"
BENCH_TASKS = ("mqar", "selective_copy", "noisy_recall", "fuzzy_recall", "memorization", "byte_lm")
"""The evaluation tasks of ``asiarch.bench.tasks`` (named here so loading entries does not import torch)."""
PSEUDO_TASKS = ("speed", "stability", "parameters")
"""Cost and robustness, which the gates and the trainer measure rather than a task."""
TaskName = Literal["mqar", "selective_copy", "noisy_recall", "fuzzy_recall", "memorization", "byte_lm", "speed",
                   "stability", "parameters"]  # fmt: skip
SOURCE_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
MAX_SYMPTOMS = 4
MAX_MOTIFS = 5
PROSE_WIDTH = 110


class EntryError(ValueError):
    """An entry file that cannot be used, as one line naming the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Symptom(_Strict):
    """A weakness on one of our tasks that the paper's idea should move, phrased as a researcher sees it."""

    task: TaskName
    effect: str = Field(min_length=1)


class Entry(_Strict):
    """A design insight distilled from one paper, stored as ``entries/<source>.yaml``."""

    source: str = Field(pattern=SOURCE_PATTERN, max_length=200)
    title: str = Field(min_length=1)
    authors: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    venue: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    key_idea: str = Field(min_length=1)
    symptoms: tuple[Symptom, ...] = Field(min_length=1, max_length=MAX_SYMPTOMS)
    mechanism: str = Field(min_length=1)
    guidance: str = Field(min_length=1)
    motifs: tuple[str, ...] = Field(min_length=1, max_length=MAX_MOTIFS)

    @field_validator("motifs")
    @classmethod
    def _known_distinct_motifs(cls, motifs: tuple[str, ...]) -> tuple[str, ...]:
        unknown = unknown_motifs(list(motifs))
        if unknown:
            raise ValueError(f"unknown motif {unknown[0]!r}; the vocabulary is asiarch.cognition.motifs.MOTIFS")
        if len(set(motifs)) != len(motifs):
            raise ValueError("a motif is listed twice")
        return motifs

    @property
    def insight(self) -> str:
        """What a researcher is told when the entry is retrieved: the idea, then how to build it here."""
        return f"{self.key_idea} {self.guidance}"

    def search_text(self) -> str:
        """The words lexical retrieval matches: what the paper is about, which weaknesses it addresses, and the
        meaning of its motifs (so a query that describes a motif in words finds it)."""
        symptoms = " ".join(f"{s.task.replace('_', ' ')} {s.effect}" for s in self.symptoms)
        motifs = " ".join(f"{m.replace(':', ' ').replace('_', ' ')} {MOTIFS[m]}" for m in self.motifs)
        return f"{self.title} {self.key_idea} {symptoms} {self.mechanism} {motifs}"


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    return f"key {where}: {message}"


def read_entry(path: Path) -> Entry:
    """One entry file, validated; its name must be ``<source>.yaml`` so a source is unique by construction."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EntryError(f"{path}: cannot read it ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise EntryError(f"{path}: not UTF-8 text; save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise EntryError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise EntryError(f"{path}: must hold a mapping of the entry's keys (source, title, ...)")
    try:
        entry = Entry.model_validate(raw)
    except ValidationError as exc:
        raise EntryError(f"{path}: {_describe(exc)}") from exc
    if path.name != entry.source + ENTRY_SUFFIX:
        raise EntryError(f"{path}: source {entry.source!r} does not match the file name; "
                         f"rename the file to {entry.source}{ENTRY_SUFFIX}")  # fmt: skip
    return entry


def load_entries(directory: Path = ENTRIES_DIR) -> list[Entry]:
    """Every entry in ``directory``, sorted by source."""
    if not directory.is_dir():
        raise EntryError(f"{directory}: no such directory of cognition entries")
    entries = [read_entry(path) for path in directory.glob(f"*{ENTRY_SUFFIX}")]
    return sorted(entries, key=lambda entry: entry.source)


def load_base(extra_dirs: Sequence[Path] = ()) -> list[Entry]:
    """The shipped entries plus those in ``extra_dirs`` (e.g. from ``asiarch cognition import``)."""
    entries = load_entries()
    seen = {entry.source: ENTRIES_DIR for entry in entries}
    for directory in extra_dirs:
        for entry in load_entries(directory):
            if entry.source in seen:
                raise EntryError(f"{directory / (entry.source + ENTRY_SUFFIX)}: source {entry.source!r} is already "
                                 f"defined in {seen[entry.source]}; rename one of them")  # fmt: skip
            seen[entry.source] = directory
            entries.append(entry)
    return sorted(entries, key=lambda entry: entry.source)


class _FoldedDumper(yaml.SafeDumper):
    """Writes long prose as ``>-`` folded blocks, the way hand-written entries look."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = ">" if len(text) > PROSE_WIDTH and "\n" not in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_FoldedDumper.add_representer(str, _represent_text)


def write_entry(entry: Entry, directory: Path) -> Path:
    """Write ``entry`` as ``<directory>/<source>.yaml`` (creating the directory) and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (entry.source + ENTRY_SUFFIX)
    text = yaml.dump(entry.model_dump(mode="json"), Dumper=_FoldedDumper, sort_keys=False, allow_unicode=True,
                     width=PROSE_WIDTH)  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path


def content_hash(entries: Iterable[Entry]) -> str:
    """A digest of every entry's content, independent of order: it changes exactly when some entry does."""
    canonical = sorted(json.dumps(entry.model_dump(mode="json"), sort_keys=True) for entry in entries)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def record_entries(session: Session, entries: Iterable[Entry]) -> int:
    """Upsert entries into the store's ``cognition_entry`` table by ``source``, so a campaign's memory holds the
    cognition it was given; returns how many rows were added or changed (0 when the store is up to date)."""
    wanted = {entry.source: entry for entry in entries}
    stored = {
        row.source: row for row in session.scalars(select(CognitionEntry).where(CognitionEntry.source.in_(wanted)))
    }
    changed = 0
    for source, entry in wanted.items():
        fields = entry.model_dump(mode="json", exclude={"source", "title"})
        row = stored.get(source)
        if row is None:
            session.add(CognitionEntry(source=source, title=entry.title, fields=fields))
        elif row.title != entry.title or row.fields != fields:
            row.title, row.fields = entry.title, fields
        else:
            continue
        changed += 1
    session.flush()
    return changed
