"""Import ASI-Arch's cognition base (one JSON file per paper) as our entries.

ASI-Arch names each file after the paper's URL with "/" turned into "_" (``arxiv.org_abs_2006.16236.json``)
and stores a JSON list of records, one per design insight, each with five markdown fields:
``DESIGN_INSIGHT`` (a "### DESIGN_INSIGHT_<n>: headline" line, sometimes followed by prose),
``EXPERIMENTAL_TRIGGER_PATTERNS``, ``BACKGROUND`` (which carries "**Title**: ..."),
``ALGORITHMIC_INNOVATION`` and ``IMPLEMENTATION_GUIDANCE``. Each record becomes one entry:

- ``key_idea``: the insight's headline and prose; ``mechanism``: the algorithmic innovation;
  ``guidance``: the implementation guidance (markdown reduced to plain text).
- ``title`` from BACKGROUND; ``url`` from the file name; ``year`` from the arXiv id (``2406.x`` is 2024), else
  the first year in the URL, else in BACKGROUND; ``venue`` "arXiv" for arXiv papers, else the URL's host.
  ASI-Arch records no authors, which the entry says rather than guesses.
- ``source``: ``asi-arch-``, then the title's name part (before a colon, if any) without stopwords, at
  most ``SLUG_WORDS`` words, then the year; the second and later records of a paper add ``-2``, ``-3``...
  The prefix keeps imported entries apart from our own entries on the same papers.
- ``symptoms``: the trigger patterns are split into sentences and each sentence goes to the first task in
  ``TASK_KEYWORDS`` whose pattern it matches, else to ``byte_lm``: ASI-Arch's signatures speak of language-model
  benchmarks (lambada, hellaswag, ...), which our byte-level LM stands for. The ``MAX_SYMPTOMS`` tasks with the
  most sentences are kept.
- ``motifs``: every ``MOTIF_KEYWORDS`` pattern that matches the insight, innovation or guidance (not the
  background, which describes prior work), in that list's order of specificity; ``rule:additive`` only when no
  other memory rule matched. A record matching no motif is about something other than a sequence mixer
  (quantisation, fine-tuning, data) and is skipped, with its headline reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from asiarch.cognition.entries import MAX_MOTIFS, MAX_SYMPTOMS, Entry, Symptom
from asiarch.cognition.retrieval import STOPWORDS

FIELDS = ("DESIGN_INSIGHT", "EXPERIMENTAL_TRIGGER_PATTERNS", "BACKGROUND", "ALGORITHMIC_INNOVATION",
          "IMPLEMENTATION_GUIDANCE")  # fmt: skip
DEFAULT_TASK = "byte_lm"
SLUG_WORDS = 4
SOURCE_PREFIX = "asi-arch-"
UNKNOWN_AUTHORS = "not recorded (imported from ASI-Arch's cognition base)"
ARXIV_HOSTS = ("arxiv.org", "www.arxiv.org")

TASK_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("noisy_recall", r"\bnois|distractor|irrelevant (tokens|context)"),
    ("fuzzy_recall", r"fuzzy|approximate match|paraphras"),
    ("selective_copy", r"selective cop|\bcopy|\bcopying|content-aware selection|select(ing|ive)? relevant tokens"),
    ("mqar", r"\bmqar\b|associative recall|\brecall|retriev|key-value|\bswde\b|\bfda\b|squad"),
    ("memorization", r"memori[sz]|factual knowledge"),
    ("stability", r"\bstab(le|ility)|diverg|loss spike|explod|vanish|\bnan\b"),
    ("parameters", r"parameter (count|budget)|number of parameters|fewer parameters|parameter-efficien"),
    ("speed", r"throughput|latency|\bspeed|faster|wall-clock|memory (usage|footprint)|efficien|linear[- ]time"),
)
"""Which of our tasks a sentence of ASI-Arch's trigger patterns speaks of; the first match wins."""

MOTIF_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("rule:multi_step_delta", r"deltaproduct|products? of householder|multiple delta steps|multi-step delta"),
    ("rule:negative_delta", r"negative eigenvalue"),
    ("rule:gated_delta", r"gated delta|delta rule with (a )?(decay|gat)"),
    ("rule:delta", r"delta[- ]rule|deltanet"),
    (
        "rule:vector_decay",
        r"gated linear attention|\bgla\b|channel-wise (decay|gat|forget)|per-channel decay|hgrn|rwkv",
    ),
    (
        "rule:scalar_decay",
        r"selective (state space|ssm|scan)|mamba|input-dependent decay|data-dependent (decay|forget)"
        r"|scalar decay|\bssd\b|forget gate",
    ),
    (
        "rule:fixed_decay",
        r"retention|retnet|fixed decay|exponential decay|constant decay|exponential moving average"
        r"|\bema\b|time-invariant|\bs4\b|\bs5\b",
    ),
    ("feature:elu_plus_one", r"elu\s*\(\s*x\s*\)\s*\+\s*1|elu\s*\+\s*1"),
    ("feature:relu", r"\brelu\b"),
    ("feature:taylor", r"taylor"),
    ("feature:l2", r"l2[- ]?norm"),
    ("conv:multiscale_fir", r"multi-scale (conv|fir|filter)|fir filter|multiple kernel sizes|long convolution|hyena"),
    ("conv:short", r"short (causal )?conv|depthwise conv|causal conv|token shift|shift ssm"),
    ("local:sliding_window", r"sliding[- ]window|local attention|window(ed)? attention"),
    ("hybrid:headwise", r"head-?wise (hybrid|mix)|different heads use|heads specialize"),
    ("fusion:router", r"\brouter\b|routing"),
    ("fusion:sigmoid_gates", r"sigmoid gat"),
    ("fusion:temperature", r"temperature"),
    ("gate:output", r"output gat|swish gat|silu gat|gated output"),
    ("norm:head_rms", r"rmsnorm|groupnorm|group norm"),
    ("skip:value", r"skip connection|\bd term\b"),
    ("global:softmax", r"global (softmax )?attention|full attention layer"),
    ("rule:additive", r"linear attention|kernel feature map|cumulative (sum|key-value)"),
)
"""Motifs a record's text names; ordered from specific to generic, at most ``MAX_MOTIFS`` kept."""

_HEADLINE = re.compile(r"^#+\s*DESIGN_INSIGHT[^:]*:\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(\s*(?:[-*]\s+)?)\*\*([^*]+?)\*\*\s*:", re.MULTILINE)
_BOLD = re.compile(r"\*\*([^*]+?)\*\*")
_TITLE = re.compile(r"\*\*Title\*\*\s*:?\s*(.+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_ARXIV_ID = re.compile(r"(\d{2})(\d{2})\.\d{4,5}")
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


class CognitionImportError(ValueError):
    """A file that is not ASI-Arch cognition data, as one line naming the file, the record and the problem."""


@dataclass
class Imported:
    """The entries made from one file, and the records left out with why."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _plain(markdown: str) -> str:
    """Markdown reduced to one line of prose: labels become "Label like:", list items end with ";"."""
    text = _LABEL.sub(lambda m: f"{m.group(1)}{m.group(2).replace('_', ' ').strip().capitalize()}:", markdown)
    text = _BOLD.sub(r"\1", text)
    lines = (line.strip().removeprefix("- ").removeprefix("* ").strip() for line in text.splitlines())
    kept = [line for line in lines if line and not line.startswith("#")]
    return " ".join(line if line.endswith((".", ":", ";", "!", "?")) else line + ";" for line in kept).rstrip(";")


def _sentences(markdown: str) -> list[str]:
    text = _BOLD.sub(r"\1", _LABEL.sub(r"\1\n", markdown))
    pieces = (line.strip().removeprefix("- ").removeprefix("* ").strip() for line in text.splitlines())
    return [sentence for piece in pieces if piece for sentence in _SENTENCE_END.split(piece) if sentence]


def _symptoms(triggers: str) -> tuple[Symptom, ...]:
    grouped: dict[str, list[str]] = {}
    for sentence in _sentences(triggers):
        task = next((t for t, pattern in TASK_KEYWORDS if re.search(pattern, sentence, re.IGNORECASE)), DEFAULT_TASK)
        grouped.setdefault(task, []).append(sentence)
    ranked = sorted(grouped.items(), key=lambda item: -len(item[1]))[:MAX_SYMPTOMS]
    return tuple(Symptom(task=task, effect=" ".join(sentences)) for task, sentences in ranked)


def _motifs(text: str) -> tuple[str, ...]:
    found = [motif for motif, pattern in MOTIF_KEYWORDS if re.search(pattern, text, re.IGNORECASE)]
    if any(m.startswith("rule:") and m != "rule:additive" for m in found):
        found = [m for m in found if m != "rule:additive"]
    return tuple(found[:MAX_MOTIFS])


def _key_idea(insight: str) -> str:
    headline, _, body = insight.strip().partition("\n")
    headline = _HEADLINE.sub("", headline).strip().strip("[]").strip().rstrip(".")
    return " ".join(part for part in (f"{headline}.", _plain(body)) if part)


def _url(path: Path) -> str:
    return "https://" + path.stem.replace("_", "/")


def _host(url: str) -> str:
    return url.split("/")[2]


def _year(url: str, background: str) -> int | None:
    arxiv = _ARXIV_ID.search(url) if _host(url) in ARXIV_HOSTS else None
    if arxiv:
        return 2000 + int(arxiv.group(1))
    found = _YEAR.search(url) or _YEAR.search(background)
    return int(found.group(1)) if found else None


def _slug(title: str, year: int) -> str:
    name = title.split(":")[0] if ":" in title else title
    words = [w for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in STOPWORDS][:SLUG_WORDS]
    return SOURCE_PREFIX + "-".join([*words, str(year)])


def _record(path: Path, number: int, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise CognitionImportError(f"{path}: record {number} is not an object; expected ASI-Arch's fields {FIELDS}")
    missing = [name for name in FIELDS if not isinstance(raw.get(name), str) or not raw[name].strip()]
    if missing:
        raise CognitionImportError(f"{path}: record {number} has no text in {missing[0]!r}")
    return {name: raw[name] for name in FIELDS}


def _entry(path: Path, number: int, record: dict[str, str]) -> Entry | None:
    """Record ``number`` of ``path`` as an entry, or None when it names no sequence-mixer motif."""
    motifs = _motifs(" ".join(record[name] for name in ("DESIGN_INSIGHT", "ALGORITHMIC_INNOVATION",
                                                         "IMPLEMENTATION_GUIDANCE")))  # fmt: skip
    if not motifs:
        return None
    url = _url(path)
    key_idea = _key_idea(record["DESIGN_INSIGHT"])
    title_match = _TITLE.search(record["BACKGROUND"])
    title = title_match.group(1).strip() if title_match else key_idea.rstrip(".")
    year = _year(url, record["BACKGROUND"])
    if year is None:
        raise CognitionImportError(f"{path}: cannot tell the paper's year from its file name or BACKGROUND; name "
                                   "the file after its arXiv URL as ASI-Arch does (arxiv.org_abs_<id>.json)")  # fmt: skip
    try:
        return Entry(
            source=_slug(title, year) + (f"-{number}" if number > 1 else ""),
            title=title,
            authors=UNKNOWN_AUTHORS,
            year=year,
            venue="arXiv" if _host(url) in ARXIV_HOSTS else _host(url),
            url=url,
            key_idea=key_idea,
            symptoms=_symptoms(record["EXPERIMENTAL_TRIGGER_PATTERNS"]),
            mechanism=_plain(record["ALGORITHMIC_INNOVATION"]),
            guidance=_plain(record["IMPLEMENTATION_GUIDANCE"]),
            motifs=motifs,
        )
    except ValidationError as exc:
        raise CognitionImportError(f"{path}: record {number} does not make a valid entry: "
                                   f"{exc.errors()[0]['msg']}") from exc  # fmt: skip


def import_asi_arch(path: Path) -> Imported:
    """The entries for one of ASI-Arch's cognition files (see the module docstring for the mapping)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CognitionImportError(f"{path}: cannot read it ({exc.strerror})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CognitionImportError(f"{path}: not valid JSON ({exc}); pass one of ASI-Arch's cognition files") from exc
    if not isinstance(records, list):
        raise CognitionImportError(f"{path}: expected a JSON list of records, as in ASI-Arch's cognition_base/")
    imported = Imported()
    for number, raw in enumerate(records, start=1):
        entry = _entry(path, number, _record(path, number, raw))
        if entry is None:
            headline = _key_idea(raw["DESIGN_INSIGHT"]).rstrip(".")
            imported.skipped.append(f"record {number} ({headline}): names no sequence-mixer motif")
        else:
            imported.entries.append(entry)
    return imported
