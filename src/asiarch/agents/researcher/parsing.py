"""Strict parsing of a model's answer into name, motivation and code (the format is taught in planner.md).

An answer is labelled sections plus code in one of two edit forms:

    NAME: gated_fir_delta
    MOTIVATION: why this should beat the parent, in a few sentences.
    ```python
    <the whole new file>
    ```

or, instead of the whole file, SEARCH/REPLACE edits of the parent's code:

    <<<<<<< SEARCH
    <lines copied exactly from the parent>
    =======
    <their replacement>
    >>>>>>> REPLACE

Anything else is a ``FormatError`` whose one line says what was wrong and what is expected: that
line goes back to the model once, so it must be specific enough to act on.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from asiarch.arch.contract import ASI_ARCH_CLASS, CONTRACT_CLASS
from asiarch.cognition.entries import Entry

MAX_NAME_CHARS = 64
NAME_PATTERN = re.compile(rf"[A-Za-z][A-Za-z0-9_\-]{{0,{MAX_NAME_CHARS - 1}}}")
SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
CODE = "\x00code"
"""Stands for a code region in ``_prose``: no answer line can equal it."""
QUOTE_CHARS = 60
"""How much of an offending line an error quotes back."""

_FENCE = re.compile(r"^```[ \t]*(?:python|py)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL | re.IGNORECASE)
_YAML_FENCE = re.compile(r"^```[ \t]*(?:yaml|yml)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL | re.IGNORECASE)
_FENCE_OPEN = re.compile(r"^```[ \t]*(?:python|py)[ \t]*$", re.MULTILINE | re.IGNORECASE)
_DECORATION = "#*` \t"
"""Markdown a model may wrap a label in (``**NAME:**``, ``## NAME:``); stripped before reading it."""

EXPECTED = "expected 'NAME: <identifier>', 'MOTIVATION: <text>' and the whole file in one ```python block"


class FormatError(ValueError):
    """An answer that cannot be used, as one line: what was wrong and what is expected."""


@dataclass(frozen=True)
class ParsedAnswer:
    name: str | None
    motivation: str | None
    code: str
    edit: str
    """'rewrite' (a whole file) or 'diff' (SEARCH/REPLACE edits of the parent)."""


def parse_answer(text: str, parent_code: str, *, labels_required: bool = True) -> ParsedAnswer:
    """Name, motivation and checked code from ``text``; diffs are applied to ``parent_code``.

    With ``labels_required=False`` (a repair answer) a missing name or motivation is None.
    """
    if not text.strip():
        raise FormatError(f"the answer is empty; {EXPECTED}")
    name = _label(text, "NAME")
    motivation = _motivation(text)
    if labels_required:
        if name is None:
            raise FormatError(f"no 'NAME:' line; {EXPECTED}")
        if motivation is None:
            raise FormatError(f"no 'MOTIVATION:' section (or it is empty); {EXPECTED}")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise FormatError(
            f"NAME must be one identifier of letters, digits, '_' or '-' (at most {MAX_NAME_CHARS} characters, "
            f"starting with a letter), got {name[:QUOTE_CHARS]!r}"
        )
    if any(line.strip() == SEARCH for line in text.splitlines()):
        code, edit = apply_edits(text, parent_code), "diff"
    else:
        code, edit = _whole_file(text), "rewrite"
    check_code(code)
    return ParsedAnswer(name, motivation, code, edit)


def _prose(text: str) -> list[str]:
    """The answer's lines outside code fences and edit blocks (each of those becomes one ``CODE`` line), so
    that a ``name: str`` in the code is never read as a label."""
    lines: list[str] = []
    in_fence = in_edit = False
    for line in text.splitlines():
        marker = line.strip()
        if marker.startswith("```") or marker == SEARCH:
            in_fence = in_fence ^ marker.startswith("```")
            in_edit = in_edit or marker == SEARCH
            lines.append(CODE)
        elif marker == REPLACE:
            in_edit = False
        elif not (in_fence or in_edit):
            lines.append(line)
    return lines


def _label(text: str, label: str) -> str | None:
    for line in _prose(text):
        value = _labelled(line, label)
        if value is not None:
            return value.strip(_DECORATION) or None
    return None


def _labelled(line: str, label: str) -> str | None:
    """The text after ``label:`` when ``line`` is that label's line (decorations allowed), else None."""
    head, colon, rest = line.partition(":")
    if colon and head.strip(_DECORATION).upper() == label:
        return rest
    return None


def _motivation(text: str) -> str | None:
    """From the MOTIVATION label to the first code, or to the NAME line."""
    lines = _prose(text)
    for start, line in enumerate(lines):
        first = _labelled(line, "MOTIVATION")
        if first is None:
            continue
        body = [first.strip(_DECORATION)]
        for following in lines[start + 1 :]:
            if following == CODE or _labelled(following, "NAME") is not None:
                break
            body.append(following)
        return "\n".join(body).strip() or None
    return None


def _whole_file(text: str) -> str:
    blocks = _FENCE.findall(text)
    if len(blocks) == 1:
        return blocks[0]
    if len(blocks) > 1:
        raise FormatError(
            f"found {len(blocks)} ```python blocks; expected exactly one holding the whole file "
            "(or SEARCH/REPLACE edits of the parent)"
        )
    if _FENCE_OPEN.search(text):
        raise FormatError("the ```python block is never closed (was the answer cut off?); close it with ```")
    raise FormatError(f"no ```python block and no SEARCH/REPLACE edits; {EXPECTED}")


def apply_edits(text: str, parent_code: str) -> str:
    """Apply every SEARCH/REPLACE block in ``text`` to ``parent_code``, in order; each SEARCH must match
    exactly once (line by line; trailing spaces are ignored, as they do not change Python)."""
    code = parent_code.splitlines()
    for number, (search, replacement) in enumerate(_edit_blocks(text), start=1):
        if not any(line.strip() for line in search):
            raise FormatError(f"SEARCH block {number} is empty; copy the parent lines to replace into it")
        wanted = [line.rstrip() for line in search]
        width = len(wanted)
        places = [i for i in range(len(code) - width + 1) if [c.rstrip() for c in code[i : i + width]] == wanted]
        if not places:
            first = next(line for line in search if line.strip()).strip()
            raise FormatError(
                f"SEARCH block {number} does not match the parent code (it starts {first[:QUOTE_CHARS]!r}); "
                "copy the lines to replace exactly, or send the whole file in a ```python block"
            )
        if len(places) > 1:
            raise FormatError(
                f"SEARCH block {number} matches {len(places)} places in the parent code; "
                "include more surrounding lines so that it matches exactly once"
            )
        code[places[0] : places[0] + width] = replacement
    return "\n".join(code) + "\n"


def _edit_blocks(text: str) -> list[tuple[list[str], list[str]]]:
    blocks: list[tuple[list[str], list[str]]] = []
    search: list[str] | None = None
    replacement: list[str] | None = None
    for line in text.splitlines():
        marker = line.strip()
        if marker == SEARCH:
            if search is not None:
                raise FormatError(f"SEARCH/REPLACE block {len(blocks) + 1} has no '{REPLACE}' line before the next")
            search = []
        elif search is None:
            continue
        elif marker == DIVIDER and replacement is None:
            replacement = []
        elif marker == REPLACE:
            if replacement is None:
                raise FormatError(f"SEARCH/REPLACE block {len(blocks) + 1} has no '{DIVIDER}' line")
            blocks.append((search, replacement))
            search, replacement = None, None
        elif replacement is None:
            search.append(line)
        else:
            replacement.append(line)
    if search is not None:
        raise FormatError(f"SEARCH/REPLACE block {len(blocks) + 1} is not closed with '{REPLACE}'")
    return blocks


def check_code(code: str) -> None:
    """The least a candidate must be before the Engineer's gates see it: Python that defines the layer."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise FormatError(f"the code does not parse: line {exc.lineno}: {exc.msg}") from exc
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    if not classes & {CONTRACT_CLASS, ASI_ARCH_CLASS}:
        raise FormatError(
            f"the code defines no top-level `class {CONTRACT_CLASS}(nn.Module)` "
            f"(or ASI-Arch's `class {ASI_ARCH_CLASS}`)"
        )


@dataclass(frozen=True)
class Judgement:
    repeat: bool
    reason: str


@dataclass(frozen=True)
class Assessment:
    score: float
    reason: str


def parse_judgement(text: str) -> Judgement:
    """The novelty judge's answer: 'REPEAT: yes|no' and 'REASON: <one sentence>'."""
    verdict, reason = _label(text, "REPEAT"), _label(text, "REASON")
    if verdict is None or verdict.lower() not in ("yes", "no"):
        raise FormatError("expected a line 'REPEAT: yes' or 'REPEAT: no', then 'REASON: <one sentence>'")
    if reason is None:
        raise FormatError("no 'REASON:' line; expected 'REASON: <one sentence>' after the REPEAT line")
    return Judgement(verdict.lower() == "yes", reason)


def parse_assessment(text: str) -> Assessment:
    """The fitness judge's answer: 'SCORE: <number in [-1, 1]>' and 'REASON: <one sentence>'."""
    raw, reason = _label(text, "SCORE"), _label(text, "REASON")
    try:
        score = float(raw) if raw is not None else math.nan
    except ValueError:
        score = math.nan
    if not -1 <= score <= 1:
        raise FormatError(f"expected a line 'SCORE: <number from -1 to 1>', got {raw!r}")
    if reason is None:
        raise FormatError("no 'REASON:' line; expected 'REASON: <one sentence>' after the SCORE line")
    return Assessment(score, reason)


def parse_entry(text: str) -> Entry:
    """A cognition entry from one ```yaml block, validated by the cognition base's own model."""
    blocks = _YAML_FENCE.findall(text)
    if len(blocks) != 1:
        raise FormatError(f"expected the entry in exactly one ```yaml block, found {len(blocks)}")
    try:
        raw = yaml.safe_load(blocks[0])
    except yaml.YAMLError as exc:
        raise FormatError(f"the ```yaml block is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise FormatError("the ```yaml block must hold a mapping of the entry's fields (source, title, ...)")
    try:
        return Entry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise FormatError(f"entry field {where}: {first['msg'].removeprefix('Value error, ')}") from exc
