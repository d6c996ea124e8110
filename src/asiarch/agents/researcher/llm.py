"""The LLM researcher: prompts rendered from template files, answers parsed strictly, one correction round.

Prompts live in ``asiarch/agents/prompts/*.md`` (``string.Template``: ``${name}`` placeholders), so
they can be read and changed without touching code. The contract section is built from the code it
describes — the parameter budget from the reference DeltaNet at the gates' width, the import
allow-list from ``asiarch.arch.contract``, the operator list from ``asiarch.ops``' own signatures and
docstrings — so the prompt cannot drift from what the gates check. An answer in the wrong format is
sent back once with the parser's one-line reason; a second bad answer is an ``LLMResearchError``,
which the loop records as the experiment's failure.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from string import Template
from typing import TypeVar

import asiarch.ops
from asiarch.agents.novelty import describe
from asiarch.agents.researcher.parsing import (
    FormatError,
    parse_answer,
    parse_assessment,
    parse_entry,
    parse_judgement,
)
from asiarch.arch.contract import ALLOWED_IMPORT_ROOTS
from asiarch.arch.cost_gates import parameter_count, reference_layer
from asiarch.arch.receptive_field import window_limit
from asiarch.cognition.entries import BENCH_TASKS, PSEUDO_TASKS, Entry
from asiarch.cognition.motifs import MOTIFS
from asiarch.config import Config, GatesConfig
from asiarch.execute.gate_job import gates_for
from asiarch.llm.client import ChatClient, Message
from asiarch.ops import dispatch
from asiarch.protocols import CognitionHit, Credit, ExperimentBrief, Proposal, ResearchContext

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
PLANNER, DEBUGGER, JUDGE, ASSESSOR, EXTRACTOR = "planner", "debugger", "judge", "assessor", "extractor"
MAX_LISTED = 8
"""At most this many references, failures, hits, insights or credit lines go into a prompt."""
MAX_PROSE_CHARS = 600
"""Longer motivations, analyses and failure reasons are cut to this many characters in a prompt."""
EMPTY_ANSWER = "(empty answer)"
"""Stands for an empty answer in the correction round (Anthropic refuses empty assistant turns)."""
NONE = "(none)"

PLANNER_EXPECTED = (
    "the 'NAME: <identifier>' and 'MOTIVATION: <text>' lines, then the whole file in one ```python block "
    "or SEARCH/REPLACE edits of the parent's code"
)
DEBUGGER_EXPECTED = "the whole corrected file in one ```python block, or SEARCH/REPLACE edits of the failing code"
JUDGE_EXPECTED = "two lines, 'REPEAT: yes' or 'REPEAT: no', then 'REASON: <one sentence>'"
ASSESSOR_EXPECTED = "two lines, 'SCORE: <number from -1 to 1>', then 'REASON: <one sentence>'"
ENTRY_EXPECTED = "the entry as YAML in one ```yaml block, with every field described above"

T = TypeVar("T")


class LLMResearchError(RuntimeError):
    """An LLM agent whose answer could not be used, as one line (recorded as the experiment's failure)."""


def render_prompt(template: str, /, **values: str) -> str:
    """``prompts/<template>.md`` with its ``${placeholders}`` filled; a placeholder left unfilled is an error."""
    text = Template((PROMPTS_DIR / f"{template}.md").read_text(encoding="utf-8"))
    try:
        return text.substitute(values)
    except KeyError as exc:
        raise LLMResearchError(f"prompt {template}.md uses ${{{exc.args[0]}}}, which its caller does not fill") from exc
    except ValueError as exc:
        raise LLMResearchError(f"prompt {template}.md has a stray '$' ({exc}); write a literal $ as $$") from exc


def ask(client: ChatClient, agent: str, prompt: str, parse: Callable[[str], T], expected: str) -> T:
    """One question; a malformed answer goes back once with the parser's reason before giving up."""
    messages: list[Message] = [{"role": "user", "content": prompt}]
    answer = client.complete(messages, agent=agent).text
    try:
        return parse(answer)
    except FormatError as first:
        feedback = render_prompt("format_feedback", error=str(first), expected=expected)
        messages += [{"role": "assistant", "content": answer or EMPTY_ANSWER}, {"role": "user", "content": feedback}]
    answer = client.complete(messages, agent=agent).text
    try:
        return parse(answer)
    except FormatError as second:
        raise LLMResearchError(
            f"the {agent}'s answer was unusable twice (the format error was sent back): {second}"
        ) from second


def ops_conventions() -> str:
    """The shared conventions paragraph of ``asiarch.ops.dispatch``'s docstring, as written there."""
    doc = inspect.getdoc(dispatch) or ""
    section = doc.partition("Conventions shared by every op")[2].partition("\n\n")[0]
    lines = [line.strip() for line in section.splitlines()[1:]]
    return "\n".join(f"- {line[2:]}" if line.startswith("* ") else f"  {line}" for line in lines)


def ops_api() -> str:
    """Each public op's call form and the first paragraph of its docstring (shapes are stated there)."""
    lines = []
    for name in asiarch.ops.__all__:
        op = getattr(asiarch.ops, name)
        if not inspect.isfunction(op) or name.endswith("_reference"):
            continue
        summary = " ".join((inspect.getdoc(op) or "").split("\n\n")[0].split())
        lines.append(f"- `{name}{_call_form(op)}`: {summary}")
    return "\n".join(lines)


def _call_form(op: Callable) -> str:
    """``(q, k, v, *, mode='chunk')``: names and defaults; annotations would only repeat the docstring."""
    parts: list[str] = []
    for parameter in inspect.signature(op).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        default = "" if parameter.default is parameter.empty else f"={parameter.default!r}"
        parts.append(parameter.name + default)
    return f"({', '.join(parts)})"


def contract_text(gates: GatesConfig) -> str:
    budget = parameter_count(reference_layer(gates))
    tolerance = gates.parameter_tolerance
    return render_prompt(
        "contract",
        speed_multiple=f"{gates.speed_multiple:g}",
        d_model=str(gates.d_model),
        num_heads=str(gates.num_heads),
        budget=f"{budget:,}",
        budget_low=f"{math.ceil(budget * (1 - tolerance)):,}",
        budget_high=f"{math.floor(budget * (1 + tolerance)):,}",
        tolerance_pct=f"{tolerance * 100:g}",
        max_window=str(window_limit(gates)),
        allowed_imports=", ".join(f"`{root}`" for root in sorted(ALLOWED_IMPORT_ROOTS)),
        ops_conventions=ops_conventions(),
        ops_api=ops_api(),
    )


class LLMResearcher:
    """The ``Researcher`` backed by a chat model: the planner proposes, the debugger repairs.

    A campaign builds it as ``LLMResearcher(config, client_for(config.llm, store, campaign_id))``, so every
    call is recorded (or, with ``llm.replay``, served from the record).
    """

    kind = "llm"

    def __init__(self, config: Config, client: ChatClient) -> None:
        self.client = client
        self.contract = contract_text(gates_for(config))

    def propose(self, context: ResearchContext) -> Proposal:
        parent = context.parent
        prompt = render_prompt(
            "planner",
            contract=self.contract,
            parent_name=parent.name,
            parent_fitness=_number(parent.fitness),
            parent_results=_results(parent.results),
            parent_motivation=_cut(parent.motivation) or NONE,
            parent_analysis=_cut(parent.analysis) or NONE,
            parent_code=parent.code.rstrip(),
            weaknesses=_bullets(context.weaknesses),
            cognition=_bullets(_hit(hit) for hit in context.cognition),
            insights=_bullets(context.insights),
            credit=_credit(context.credit),
            references=_bullets(_brief(reference) for reference in context.references),
            failures=_bullets(_failure(failure) for failure in context.failures),
        )
        parsed = ask(self.client, PLANNER, prompt, lambda text: parse_answer(text, parent.code), PLANNER_EXPECTED)
        return Proposal(
            name=parsed.name or "",
            motivation=parsed.motivation or "",
            code=parsed.code,
            parents=(parent.name,) if parent.name else (),
            operator=f"llm-{parsed.edit}",
            spec=None,
        )

    def repair(self, proposal: Proposal, failure: str) -> Proposal:
        """The same idea with its code fixed: name, motivation, parents and operator are kept, so the
        repaired experiment is credited to the edit that produced the idea."""
        prompt = render_prompt(
            "debugger",
            name=proposal.name,
            motivation=proposal.motivation or NONE,
            failure=failure.strip() or NONE,
            contract=self.contract,
            code=proposal.code.rstrip(),
        )
        parsed = ask(
            self.client,
            DEBUGGER,
            prompt,
            lambda text: parse_answer(text, proposal.code, labels_required=False),
            DEBUGGER_EXPECTED,
        )
        return replace(proposal, code=parsed.code)


class LLMJudge:
    """The novelty filter's optional judge (``asiarch.agents.novelty.Judge``): does a proposal repeat an earlier
    experiment? Asked only for borderline pairs."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def __call__(self, proposal: Proposal, earlier: str) -> bool:
        prompt = render_prompt("judge", candidate=describe(proposal), earlier=earlier)
        return ask(self.client, JUDGE, prompt, parse_judgement, JUDGE_EXPECTED).repeat


class LLMAssessor:
    """The Analyst's optional qualitative judge (``asiarch.agents.analyst.Judge``): a score in [-1, 1] for a
    trained candidate, from its code and the measured analysis. Asked only when ``analyst.judge_weight`` > 0."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def __call__(self, code: str, analysis: str) -> float:
        prompt = render_prompt("assess", code=code.rstrip() or NONE, analysis=analysis.strip() or NONE)
        return ask(self.client, ASSESSOR, prompt, parse_assessment, ASSESSOR_EXPECTED).score


def extract_entry(client: ChatClient, paper: str) -> Entry:
    """A cognition entry distilled from a paper's text by the ``extractor`` agent, validated."""
    prompt = render_prompt(
        "extract_cognition",
        paper=paper.strip(),
        tasks=", ".join(f"`{task}`" for task in (*BENCH_TASKS, *PSEUDO_TASKS)),
        ops=", ".join(name for name in asiarch.ops.__all__ if not name.endswith("_reference") and name != "Mode"),
        motifs="\n".join(f"  - `{motif}`: {meaning}" for motif, meaning in MOTIFS.items()),
    )
    return ask(client, EXTRACTOR, prompt, parse_entry, ENTRY_EXPECTED)


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_PROSE_CHARS else text[:MAX_PROSE_CHARS].rstrip() + " …"


def _number(value: float | None) -> str:
    return "not measured" if value is None else f"{value:+.3f}"


def _results(results: dict[str, float]) -> str:
    return ", ".join(f"{task} {value:.4g}" for task, value in sorted(results.items())) or "not measured"


def _bullets(items: Iterable[str]) -> str:
    lines = [f"- {item}" for item in list(items)[:MAX_LISTED]]
    return "\n".join(lines) or NONE


def _hit(hit: CognitionHit) -> str:
    motifs = f" (motifs: {', '.join(hit.motifs)})" if hit.motifs else ""
    return f"[{hit.source}] {hit.title}: {_cut(hit.insight)}{motifs}"


def _brief(brief: ExperimentBrief) -> str:
    return f"{brief.name} (fitness {_number(brief.fitness)}; {_results(brief.results)}): {_cut(brief.motivation)}"


def _failure(brief: ExperimentBrief) -> str:
    return f"{brief.name}: {_cut(brief.failure) or 'failed'}. Idea: {_cut(brief.motivation) or NONE}"


def _credit(credit: dict[str, Credit]) -> str:
    ranked = sorted(credit.items(), key=lambda item: abs(item[1].mean_delta), reverse=True)  # strongest effects
    return _bullets(f"{motif}: {c.mean_delta:+.3f} over {c.count}" for motif, c in ranked)
