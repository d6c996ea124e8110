"""The offline researcher: program synthesis over the motif grammar, steered by credit and cognition.

No model is involved: a proposal is one edit of the parent's spec (or a crossover with a reference, or
a simplification), chosen among all admissible edits with weights that grow with the Analyst's credit
for that kind of edit and with the cognition entries retrieved for the parent's weaknesses. Edits
that would leave the parameter budget, or repeat a design this researcher already proposed, are not
admissible. The motivation says which entries and statistics the choice used, so a reader can audit
why the design exists.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import math
import random

from asiarch.agents.researcher.offline.codegen import generate
from asiarch.agents.researcher.offline.grammar import (
    FirPath,
    GlobalPath,
    MemoryPath,
    Spec,
    WindowPath,
    motifs_of,
    parameter_count,
    parse_spec,
    spec_tree,
)
from asiarch.agents.researcher.offline.operators import (
    Edit,
    crossovers,
    mutations,
    simplifications,
    without_global,
)
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS
from asiarch.bench.tasks import make_task
from asiarch.config import Config, GatesConfig, ResearcherConfig
from asiarch.protocols import CognitionHit, ExperimentBrief, Proposal, ResearchContext

_RULE_TOKENS = {
    "additive": "lin",
    "fixed_decay": "ret",
    "scalar_decay": "ssd",
    "vector_decay": "gla",
    "delta": "delta",
    "gated_delta": "gdelta",
    "negative_delta": "negdelta",
    "multi_step_delta": "mdelta",
}
# Failing gates whose cause is cost: the repair removes the most expensive motif first.
_COST_GATES = ("parameter_budget", "speed", "subquadratic", "local_growth", "timeout", "memory")
SPEC_HASH_CACHE = 1 << 16  # designs remembered by identity; one is a few hundred bytes
MAX_LOG_WEIGHT = 5.0  # credit can make an edit at most e^5 times more (or less) likely than a neutral one


class OfflineResearcher:
    """Proposes and repairs grammar-born candidates; deterministic for a given seed and context."""

    kind = "offline"

    def __init__(self, config: ResearcherConfig, gates: GatesConfig, seed: int = 0) -> None:
        self.config = config
        self.gates = gates
        self.windows = tuple(config.windows)
        self.rng = random.Random(seed)
        self.seen: set[str] = {spec_hash(spec) for spec in ZOO_SPECS.values()}  # a reference is never new
        reference = parameter_count(ZOO_SPECS["deltanet"], gates.d_model, gates.num_heads)
        slack = gates.parameter_tolerance * config.budget_margin * reference
        self.budget = (reference - slack, reference + slack)

    @classmethod
    def from_config(cls, config: Config) -> OfflineResearcher:
        """The campaign's researcher, once its windows are checked against the evaluated sequences."""
        check_windows(config)
        return cls(config.researcher, config.gates, seed=config.campaign.seed)

    def propose(self, context: ResearchContext) -> Proposal:
        """One admissible edit of the parent, chosen with credit and cognition as weights."""
        rng = random.Random(f"{context.seed}:{self.rng.random()}")
        parent = without_global(self._spec_of(context.parent), max(self.windows))
        self.seen.add(spec_hash(parent))
        operator, options = self._options(parent, context, rng)
        edit, weight_note = self._choose(options, context, rng)
        self.seen.add(spec_hash(edit.spec))
        name = design_name(edit.spec)
        motivation = self._motivation(context, operator, edit, weight_note)
        parents = tuple(p for p in (context.parent.name,) if p)
        if operator == "crossover":
            parents += tuple(r.name for r in context.references[:1])
        return Proposal(
            name=name,
            motivation=motivation,
            code=generate(edit.spec, name, motivation),
            parents=parents,
            operator=f"{operator}:{edit.key}",
            spec=spec_tree(edit.spec),
        )

    def repair(self, proposal: Proposal, failure: str) -> Proposal:
        """Take something away: the costliest motif for a cost gate, otherwise the newest path or trimming."""
        if proposal.spec is None:
            raise ValueError(
                f"the offline researcher can only repair grammar-born proposals; {proposal.name!r} has no spec "
                "(use the LLM researcher to repair hand-written code)"
            )
        spec = parse_spec(proposal.spec)
        options = [e for e in simplifications(spec) if self._admissible(e.spec)]
        if not options:
            raise ValueError(f"no simpler admissible design left for {proposal.name!r} after: {failure.splitlines()[0]}")
        if any(gate in failure.split(":")[0] for gate in _COST_GATES):
            edit = min(options, key=lambda e: (_cost(e.spec), e.key))
        else:
            edit = options[-1] if len(spec.paths) > 1 else options[0]
        self.seen.add(spec_hash(edit.spec))
        reason = failure.splitlines()[0] if failure else "a failing gate"
        motivation = f"Repair of {proposal.name} after {reason}: {edit.description}. " + proposal.motivation
        name = design_name(edit.spec)
        return Proposal(
            name=name,
            motivation=motivation,
            code=generate(edit.spec, name, motivation),
            parents=proposal.parents,
            operator=f"repair:{edit.key}",
            spec=spec_tree(edit.spec),
        )

    def _spec_of(self, brief: ExperimentBrief) -> Spec:
        if brief.spec is not None:
            return parse_spec(brief.spec)
        zoo_name = brief.name.removeprefix("zoo:")
        if zoo_name in ZOO_SPECS:
            return ZOO_SPECS[zoo_name]
        # A parent written by hand or by an LLM has no spec: start from the grammar's DeltaNet instead.
        return ZOO_SPECS[self.config.fallback_parent]

    def _admissible(self, spec: Spec) -> bool:
        low, high = self.budget
        return (
            spec_hash(spec) not in self.seen
            and not any(isinstance(p, GlobalPath) for p in spec.paths)
            and low <= parameter_count(spec, self.gates.d_model, self.gates.num_heads) <= high
        )

    def _options(self, parent: Spec, context: ResearchContext, rng: random.Random) -> tuple[str, list[Edit]]:
        weights = dict(self.config.operator_weights)
        partners = [r for r in context.references if r.spec is not None or r.name.removeprefix("zoo:") in ZOO_SPECS]
        generators = {
            "mutate": lambda: mutations(parent, rng, self.windows),
            "crossover": lambda: (
                crossovers(parent, without_global(self._spec_of(partners[0]), max(self.windows)), rng) if partners else []
            ),
            "simplify": lambda: simplifications(parent),
        }
        while weights:
            operator = rng.choices(list(weights), weights=list(weights.values()))[0]
            options = [e for e in generators[operator]() if self._admissible(e.spec)]
            if options:
                return operator, options
            del weights[operator]
        # The parent's one-edit neighbourhood is used up: step through a random neighbour and edit again.
        stepping_stones = mutations(parent, rng, self.windows)
        rng.shuffle(stepping_stones)
        for first in stepping_stones[: self.config.compound_tries]:
            options = [
                Edit(e.spec, e.key, e.motifs, f"{first.description}, then {e.description}")
                for e in mutations(first.spec, rng, self.windows)
                if self._admissible(e.spec)
            ]
            if options:
                return "mutate", options
        raise ValueError(
            f"no admissible edit of {context.parent.name!r}: every design within the parameter budget "
            "has been proposed already"
        )

    def _choose(self, options: list[Edit], context: ResearchContext, rng: random.Random) -> tuple[Edit, str]:
        weights = []
        for edit in options:
            credit = context.credit.get(edit.key)
            shrunk = 0.0 if credit is None else credit.mean_delta * credit.count / (credit.count + self.config.credit_prior)
            weights.append(math.exp(max(-MAX_LOG_WEIGHT, min(MAX_LOG_WEIGHT, self.config.credit_strength * shrunk))))
        # Edits that bring a motif the retrieved cognition names share a fixed part of the probability.
        cited = {motif for hit in context.cognition for motif in hit.motifs}
        steered = [bool(cited.intersection(edit.motifs)) for edit in options]
        if any(steered) and not all(steered):
            share = self.config.cognition_share
            steered_total = sum(w for w, s in zip(weights, steered) if s)
            other_total = sum(w for w, s in zip(weights, steered) if not s)
            weights = [w * (share / steered_total if s else (1 - share) / other_total) for w, s in zip(weights, steered)]
        index = rng.choices(range(len(options)), weights=weights)[0]
        share = weights[index] / sum(weights)
        return options[index], f"{len(options)} admissible edits; this one drawn with probability {share:.1%}"

    def _motivation(self, context: ResearchContext, operator: str, edit: Edit, weight_note: str) -> str:
        parent = context.parent
        standing = f"fitness {parent.fitness:+.2f}" if parent.fitness is not None else "a reference design"
        sentences = [f"Parent {parent.name} ({standing})."]
        if context.weaknesses:
            sentences.append(f"It lags on {', '.join(context.weaknesses)}.")
        verb = {"mutate": "Mutation", "crossover": "Crossover", "simplify": "Simplification"}[operator]
        sentences.append(f"{verb}: {edit.description}.")
        for hit in _cited_hits(context.cognition, edit):
            sentences.append(f"Cognition [{hit.source}] {hit.title}: {_first_sentence(hit.insight)}")
        credit = context.credit.get(edit.key)
        if credit is not None:
            sentences.append(
                f"Credit so far for {edit.key}: mean fitness change {credit.mean_delta:+.2f} over {credit.count} "
                "experiment(s)."
            )
        sentences.append(f"Resulting design: {', '.join(motifs_of(edit.spec))} ({weight_note}).")
        return " ".join(sentences)


def _cited_hits(hits: tuple[CognitionHit, ...], edit: Edit) -> list[CognitionHit]:
    return [hit for hit in hits if set(hit.motifs).intersection(edit.motifs)][:2]


def _first_sentence(text: str) -> str:
    sentence = text.strip().split(". ")[0].rstrip(".")
    return sentence + "."


def _cost(spec: Spec) -> tuple[int, int]:
    """A rough ordering of designs by compute: extra steps, expanded features and paths first, then parameters."""
    heavy = sum(
        (p.steps if "multi_step_delta" in p.rules else 0) + (3 if p.feature_map == "taylor" else 0) + len(p.rules)
        for p in spec.paths
        if isinstance(p, MemoryPath)
    )
    heavy += sum(2 for p in spec.paths if isinstance(p, (WindowPath, FirPath)))
    return heavy, parameter_count(spec, 64, 2)


def check_windows(config: Config) -> None:
    """Refuse windows so wide that local attention sees the whole task (it would score as free recall)."""
    shortest = min(
        make_task(run.task, run.params).seq_len for stage in config.stages.values() for run in stage.tasks.values()
    )
    limit = config.researcher.max_window_share * shortest
    if max(config.researcher.windows) > limit:
        raise ValueError(
            f"researcher.windows={config.researcher.windows} reaches past {limit:g} tokens "
            f"(max_window_share={config.researcher.max_window_share} of the shortest evaluated sequence, "
            f"{shortest}): such a window is full attention on these tasks; use smaller windows"
        )


@functools.lru_cache(maxsize=SPEC_HASH_CACHE)
def spec_hash(spec: Spec) -> str:
    """The identity of a design: the code it generates, docstrings aside (two specs that generate the same layer
    are one design, e.g. the delta rule normalises its keys, so identity and L2 features give the same layer)."""
    tree = ast.parse(generate(spec, "", ""))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            del body[0]
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


def design_name(spec: Spec) -> str:
    """A short readable name: the paths' motifs plus a hash, e.g. ``gdelta+swa32-3fa9c1``."""
    tokens = []
    for path in spec.paths:
        if isinstance(path, MemoryPath):
            rules = "|".join(_RULE_TOKENS[r] + (str(path.steps) if r == "multi_step_delta" else "") for r in path.rules)
            feature = "" if path.feature_map == "identity" else f"-{path.feature_map.replace('_', '')}"
            tokens.append(rules + feature)
        elif isinstance(path, FirPath):
            tokens.append("fir" + "x".join(map(str, path.kernel_sizes)))
        elif isinstance(path, WindowPath):
            tokens.append(f"swa{path.window}")
        else:
            tokens.append("softmax")
    return "+".join(tokens) + "-" + spec_hash(spec)[:6]
