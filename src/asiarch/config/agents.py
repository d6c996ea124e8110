"""Sections for the search itself: researcher, cognition, LLMs, novelty, campaign and analyst."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from asiarch.config.base import ConfigError, Strict


class ResearcherConfig(Strict):
    """Where proposals come from, and how the offline researcher steers its edits."""

    kind: Literal["offline", "llm"] = Field(
        "offline", description="offline: program synthesis over the motif grammar (no model); llm: the llm section."
    )
    operator_weights: dict[Literal["mutate", "crossover", "simplify"], float] = Field(
        default_factory=lambda: {"mutate": 0.75, "crossover": 0.15, "simplify": 0.10},
        description="Relative chance of each offline operator (one without admissible edits is skipped).",
    )
    credit_strength: float = Field(
        2.0, ge=0, description="Edit weight is exp(strength × shrunk mean fitness change credited to the edit)."
    )
    credit_prior: float = Field(
        3.0, ge=0, description="Pseudo-count shrinking an edit's credit towards 0 while it has few experiments."
    )
    cognition_share: float = Field(
        0.5, ge=0, le=1, description="Probability given to the edits that bring a motif named by retrieved cognition."
    )
    budget_margin: float = Field(
        0.9, gt=0, le=1, description="Share of the gates' parameter tolerance the sampler may use (keeps a margin)."
    )
    fallback_parent: str = Field(
        "deltanet", description="Zoo spec mutated when the parent has no spec (hand-written or LLM code)."
    )
    compound_tries: int = Field(
        20, gt=0, description="Neighbours tried as stepping stones once every single edit of a parent was proposed."
    )
    windows: list[int] = Field(
        default_factory=lambda: [4, 8],
        min_length=1,
        description="Attention windows a sliding-window path may take. A window covering the evaluated sequence "
        "is full softmax attention scored as a linear design, so they are capped by max_window_share.",
    )
    max_window_share: float = Field(
        0.125, gt=0, le=1, description="Largest window as a share of the shortest sequence any stage evaluates."
    )

    @field_validator("windows")
    @classmethod
    def _windows_are_windows(cls, value: list[int]) -> list[int]:
        if any(w < 2 for w in value):
            raise ValueError(f"researcher.windows must be at least 2 tokens each, got {value}")
        return sorted(set(value))


class CognitionConfig(Strict):
    """The cognition base and its hybrid retrieval (asiarch.cognition.retrieval)."""

    entry_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories of further entry YAML files (e.g. written by `asiarch cognition import`), "
        "searched together with the entries shipped in the package.",
    )
    top_k: int = Field(5, gt=0, description="Entries retrieved per weakness (query).")
    bm25_weight: float = Field(0.5, ge=0, description="Weight of the normalised BM25 (exact-word) score.")
    embedding_weight: float = Field(0.5, ge=0, description="Weight of the normalised MiniLM cosine score.")

    @model_validator(mode="after")
    def _some_weight(self) -> CognitionConfig:
        if self.bm25_weight + self.embedding_weight <= 0:
            raise ValueError("cognition.bm25_weight and cognition.embedding_weight cannot both be 0")
        return self


LLM_AGENTS = ("planner", "debugger", "judge", "assessor", "extractor")


class LLMAgentConfig(Strict):
    """One LLM agent's endpoint, sampling, retry and price settings (asiarch.llm.client)."""

    provider: str = Field(
        "openai",
        pattern="^(openai|anthropic)$",
        description="'openai': any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp "
        "server, OpenRouter); 'anthropic': the Anthropic Messages API.",
    )
    model: str = Field("gpt-4o-mini", min_length=1, description="Model name as the endpoint knows it.")
    base_url: str | None = Field(
        None,
        description="Endpoint root, e.g. http://127.0.0.1:8080/v1 for a local llama.cpp server; unset means the "
        "provider's public API.",
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable that holds the API key (keys never go in config files); "
        "empty for local servers that need none.",
    )
    temperature: float = Field(
        0.7, ge=0, le=2, description="Sampling temperature (OpenAI-compatible endpoints; Anthropic's API takes none)."
    )
    max_tokens: int = Field(4096, gt=0, description="Longest answer, in tokens.")
    timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit of one request.")
    max_retries: int = Field(
        4,
        ge=0,
        description="Retries after a timeout, connection error, unreadable body, 429 or 5xx; the SDK's own "
        "hidden retries are switched off so that they cannot multiply these.",
    )
    backoff_s: float = Field(2.0, ge=0, description="Delay before the first retry; it doubles with each retry.")
    max_backoff_s: float = Field(
        60.0, ge=0, description="Longest single retry delay, also the cap on a server's Retry-After."
    )
    input_price_per_mtok: float = Field(
        0.15, ge=0, description="USD per million prompt tokens, for the cost ledger (0 for local models)."
    )
    output_price_per_mtok: float = Field(
        0.60, ge=0, description="USD per million completion tokens, for the cost ledger (0 for local models)."
    )


class LLMConfig(Strict):
    """The LLM agents (LLM researcher, optional novelty and fitness judges, `asiarch cognition add`), record/replay."""

    planner: LLMAgentConfig = Field(
        default_factory=LLMAgentConfig, description="Proposes new layers from the research context."
    )
    debugger: LLMAgentConfig = Field(
        default_factory=lambda: LLMAgentConfig(temperature=0.2),
        description="Repairs a proposal from the failing gate's reason and traceback.",
    )
    judge: LLMAgentConfig = Field(
        default_factory=lambda: LLMAgentConfig(temperature=0.0, max_tokens=256),
        description="Optional novelty judge: is a proposal a repeat of an earlier one?",
    )
    assessor: LLMAgentConfig = Field(
        default_factory=lambda: LLMAgentConfig(temperature=0.0, max_tokens=256),
        description="Optional qualitative judge of a trained candidate, added to fitness when analyst.judge_weight > 0.",
    )
    extractor: LLMAgentConfig = Field(
        default_factory=lambda: LLMAgentConfig(temperature=0.0, max_tokens=2048),
        description="Distils a paper's text into a cognition entry (`asiarch cognition add`).",
    )
    replay: bool = Field(
        False,
        description="Serve every call from the calls recorded in the store (same request, same occurrence) and "
        "contact no endpoint; a call never recorded is an error.",
    )
    replay_campaign: str | None = Field(
        None, description="Campaign whose recorded calls a replay serves; unset means calls of any campaign."
    )

    def agent(self, name: str) -> LLMAgentConfig:
        if name not in LLM_AGENTS:
            raise ConfigError(f"unknown LLM agent {name!r}; configured agents: {', '.join(LLM_AGENTS)}")
        return getattr(self, name)


class NoveltyConfig(Strict):
    """When a proposal repeats an earlier experiment (asiarch.agents.novelty). Structure similarity is the
    Jaccard similarity of normalised syntax subtrees; motivation similarity is the MiniLM cosine. Identical
    normalised code is always a repeat. How the defaults were measured: asiarch.agents.novelty."""

    structure_threshold: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Code at least this similar to an earlier experiment's, with the same numeric literals and "
        "a motivation at least motivation_threshold similar, is a repeat (a reordered or padded copy).",
    )
    motivation_threshold: float = Field(
        0.9, ge=-1, le=1, description="Motivation similarity that, with structure_threshold, makes a repeat."
    )
    borderline_structure: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Code this similar (but not a repeat) is borderline: the optional LLM judge decides; without "
        "a judge the proposal passes.",
    )
    borderline_motivation: float = Field(
        0.85, ge=-1, le=1, description="A motivation this similar (but not a repeat) is borderline, as above."
    )
    llm_judge: bool = Field(
        False, description="Let the llm.judge agent decide borderline pairs in a campaign (off: they pass)."
    )


class CampaignConfig(Strict):
    """The autonomous loop: its budget, how parents are chosen, how many experiments are in flight."""

    max_experiments: int = Field(
        12, gt=0, description="Proposals a campaign makes (rejected and failed ones count; repair rounds do not)."
    )
    max_hours: float | None = Field(None, gt=0, description="Wall-clock budget; null = none.")
    max_cpu_hours: float | None = Field(None, gt=0, description="CPU-hours from the compute ledger; null = none.")
    max_gpu_hours: float | None = Field(None, gt=0, description="GPU-hours from the compute ledger; null = none.")
    max_llm_usd: float | None = Field(None, gt=0, description="Dollars spent on LLM calls (llm ledger); null = none.")
    strategy: Literal["evolution", "random", "zoo-only"] = Field(
        "evolution",
        description="evolution: sample parents from the pool; random: uniform parent (best-of-N baseline); "
        "zoo-only: always mutate a reference.",
    )
    sampler: Literal["rank_bands", "fitness_proportional", "uniform", "hill_climbing"] = Field(
        "rank_bands", description="Parent sampling from the pool for the evolution strategy (store/queries.py)."
    )
    cold_start: int = Field(
        6, ge=0, description="The first N experiments mutate references of the zoo before the pool is used."
    )
    references_per_proposal: int = Field(1, ge=0, description="Pool members shown to the researcher with a parent.")
    batch_size: int | None = Field(
        None, gt=0, description="Experiments gated and trained together (one pool of jobs); null = worker count."
    )
    seed: int = Field(0, description="Seed of the campaign's random draws (each draw is recorded).")
    work_dir: Path = Field(Path("runs"), description="Where candidate files are written, one folder per campaign.")
    poll_s: float = Field(2.0, gt=0, description="How often a paused campaign checks whether it may go on.")
    heartbeat_s: float = Field(
        10.0, gt=0, description="How often a running orchestrator tells others sharing the campaign it is alive."
    )
    lease_s: float = Field(
        60.0,
        gt=0,
        description="Silence after which an orchestrator on another machine counts as dead and its experiments in "
        "flight are taken over (one on this machine is checked by its process id at once).",
    )

    @model_validator(mode="after")
    def _lease_outlasts_heartbeats(self) -> CampaignConfig:
        if self.lease_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"campaign.lease_s ({self.lease_s:g}) must be at least twice campaign.heartbeat_s "
                f"({self.heartbeat_s:g}), or live orchestrators would look dead; raise lease_s"
            )
        return self


class AnalystConfig(Strict):
    """How the Analyst scores, compares, credits and promotes (asiarch.agents.analyst, README "How it decides")."""

    rivals: list[str] = Field(
        default_factory=lambda: ["deltanet", "gated_deltanet", "gla", "mamba2", "retnet", "linear_elu"],
        min_length=1,
        description="References a candidate must beat; fitness 0 means as good as the strongest of them. Softmax "
        "attention is left out by default: it is quadratic, so it is the recall ceiling, not a rival.",
    )
    spread_floor: dict[str, float] = Field(
        default_factory=lambda: {"accuracy": 0.005, "nats_per_token": 0.01},
        description="Smallest seed-to-seed spread per metric (accuracy as a fraction: 0.005 = half a point), so a "
        "task where every rival scores the same cannot dominate fitness.",
    )
    missing_penalty: float = Field(
        10.0, gt=0, description="Standardised score of a missing or non-finite task, and the lowest any task can get."
    )
    judge_weight: float = Field(
        0.0,
        ge=0,
        description="Weight of the llm.assessor agent's qualitative score in [-1, 1] added to fitness; 0 = off "
        "(no call is made).",
    )
    weakness_z: float = Field(
        -1.0, description="A task whose standardised score is below this is a weakness (cognition is retrieved for it)."
    )
    insight_min_support: int = Field(
        3, gt=0, description="Analysed children an edit needs before its credit becomes an insight."
    )
    insight_min_effect: float = Field(
        0.5, ge=0, description="Smallest |mean fitness change| of an edit that becomes an insight."
    )
    promote_min_fitness: float = Field(
        0.0, description="Screen fitness needed for promotion to confirm (0 = as good as the strongest rival)."
    )
    max_promotions: int = Field(
        3,
        ge=0,
        description="Candidates a campaign may promote to the confirm stage: the family of discovery tests (m), "
        "declared by the campaign's stored config before any data is seen.",
    )
    discovery_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Family-wise error rate of a campaign's discovery claims: each of the max_promotions confirm "
        "evaluations (the family, fixed when the campaign starts) is tested at discovery_alpha / max_promotions.",
    )
    z_clip: float = Field(
        5.0,
        gt=0,
        description="Largest |z| one task contributes to fitness and to the discovery aggregate, in spreads: no task "
        "(say one where the rivals happen to agree) can decide the aggregate alone. Below missing_penalty.",
    )
    non_inferiority_margin: dict[str, float] = Field(
        default_factory=lambda: {"accuracy": 0.02, "nats_per_token": 0.03},
        description="Per metric, in its own units, how far a discovery may trail the best compared rival on any "
        "task: its one-sided lower confidence bound (Holm-adjusted over tasks) must stay above minus this.",
    )
    non_inferiority_alpha: float = Field(
        0.05, gt=0, lt=1, description="Family-wise level of the per-task non-inferiority tests (Holm over tasks)."
    )
    futility_level: float = Field(
        0.9,
        gt=0.5,
        lt=1,
        description="At an interim look the confirm stage stops, not a discovery, when the upper confidence bound at "
        "this level shows the candidate worse than a compared rival on the aggregate, or beyond the margin on a task.",
    )

    @model_validator(mode="after")
    def _floors_are_positive(self) -> AnalystConfig:
        zero = [metric for metric, floor in self.spread_floor.items() if not floor > 0]
        if zero:
            raise ValueError(f"analyst.spread_floor.{zero[0]} must be > 0 (it divides score differences)")
        if self.missing_penalty <= self.z_clip:
            raise ValueError(
                f"analyst.missing_penalty ({self.missing_penalty:g}) must exceed analyst.z_clip ({self.z_clip:g}): a "
                "missing task must score below any real result"
            )
        return self
