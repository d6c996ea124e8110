"""One configuration tree for the whole system, loaded from YAML with dotted CLI overrides.

Every key is declared and documented here; unknown keys are errors (a typo must never be
silently ignored, because a mistyped budget would change what a campaign means). Task
parameters are the one exception kept open here: each task validates its own ``params``
with its own model in ``asiarch.bench.tasks`` — this module imports nothing of the project.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A configuration problem, reported to the user as one line naming the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Strict):
    """The language-model backbone wrapped around every mixer (identical for all candidates)."""

    d_model: int = Field(64, gt=0, description="Residual-stream width.")
    n_layers: int = Field(2, gt=0, description="Number of [norm → mixer → residual (→ norm → MLP → residual)] blocks.")
    num_heads: int = Field(2, gt=0, description="Heads passed to the mixer; d_model must be divisible by it.")
    mlp_ratio: float = Field(
        0.0, ge=0, description="Hidden width of the per-block MLP as a multiple of d_model; 0 means no MLP."
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}")
        return self


class OptimConfig(_Strict):
    """AdamW with linear warm-up and cosine decay; decay applies to matrices only."""

    beta1: float = Field(0.9, gt=0, lt=1, description="AdamW first-moment decay.")
    beta2: float = Field(0.98, gt=0, lt=1, description="AdamW second-moment decay.")
    weight_decay: float = Field(0.1, ge=0, description="Decoupled weight decay on parameters with ≥ 2 dims.")
    warmup_frac: float = Field(0.05, ge=0, lt=1, description="Fraction of steps spent in linear warm-up.")
    min_lr_frac: float = Field(0.0, ge=0, le=1, description="Cosine schedule floor as a fraction of the peak lr.")
    grad_clip: float = Field(1.0, gt=0, description="Global gradient-norm clip.")


class TrainConfig(_Strict):
    """How long and how hard one task run trains."""

    steps: int = Field(600, gt=0, description="Optimizer steps.")
    batch_size: int = Field(64, gt=0, description="Sequences per step.")
    lrs: list[float] = Field(
        default_factory=lambda: [1e-2],
        min_length=1,
        description="Peak learning rates tried, each in its own process; the best test metric is kept. "
        "Measured: at CPU budgets the learning rate moves results as much as the architecture does.",
    )
    eval_batch_size: int = Field(250, gt=0, description="Sequences per forward pass when scoring test splits.")
    curve_points: int = Field(50, gt=1, description="Points kept of the training-loss curve.")
    divergence_loss: float = Field(
        1e3, gt=0, description="A training loss above this (or non-finite) stops the run as diverged."
    )


class TaskRunConfig(_Strict):
    """One task of a stage: which data, which model size, which training budget."""

    task: str = Field(description="Task name in the registry (asiarch.bench.tasks.TASKS).")
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters, validated by the task.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    weight: float = Field(1.0, ge=0, description="Weight of this task in the stage's aggregate fitness.")


class StageConfig(_Strict):
    """An evaluation stage: a set of task runs, repeated over seeds."""

    description: str = ""
    seeds: int = Field(1, gt=0, description="Seeds per candidate evaluation at this stage.")
    reference_seeds: int = Field(
        3, ge=2, description="Seeds per reference architecture; their spread defines 'noise' at this stage."
    )
    tasks: dict[str, TaskRunConfig] = Field(description="Task runs keyed by a short label used in tables.")


def _mqar_run(steps: int) -> TaskRunConfig:
    return TaskRunConfig(
        task="mqar",
        params={"vocab_size": 8192, "seq_len": 64, "num_kv_pairs": 8, "test_kv_pairs": [4, 8, 16]},
        model=ModelConfig(d_model=64, n_layers=2, num_heads=2, mlp_ratio=0),
        train=TrainConfig(steps=steps, batch_size=64, lrs=[1e-2, 2e-2]),
    )


def _byte_lm_run(steps: int, d_model: int, lrs: list[float]) -> TaskRunConfig:
    return TaskRunConfig(
        task="byte_lm",
        params={"seq_len": 128},
        model=ModelConfig(d_model=d_model, n_layers=2, num_heads=2, mlp_ratio=2),
        train=TrainConfig(steps=steps, batch_size=32, lrs=lrs),
    )


def _mad_run(task: str, steps: int) -> TaskRunConfig:
    return TaskRunConfig(
        task=task,
        model=ModelConfig(d_model=64, n_layers=2, num_heads=2, mlp_ratio=0),
        train=TrainConfig(steps=steps, batch_size=64, lrs=[1e-2, 3e-3]),
    )


def default_stages() -> dict[str, StageConfig]:
    """The built-in screen and confirm stages, sized for a 2-core CPU (see README, 'Evaluation')."""
    return {
        "screen": StageConfig(
            description="Recall at two learning rates plus a short byte-LM check: about a CPU-minute per run.",
            seeds=1,
            reference_seeds=3,
            tasks={"mqar": _mqar_run(steps=600), "lm": _byte_lm_run(steps=300, d_model=64, lrs=[1e-2])},
        ),
        "confirm": StageConfig(
            description="All tasks, more seeds, longer language modelling: only for screen winners.",
            seeds=5,
            reference_seeds=5,
            tasks={
                "mqar": _mqar_run(steps=800),
                "selective_copy": _mad_run("selective_copy", steps=600),
                "noisy_recall": _mad_run("noisy_recall", steps=600),
                "fuzzy_recall": _mad_run("fuzzy_recall", steps=600),
                "lm": _byte_lm_run(steps=500, d_model=128, lrs=[1e-2, 3e-3]),
            },
        ),
    }


class GatesConfig(_Strict):
    """The mechanical checks every candidate passes before it may train (probe sizes and tolerances)."""

    d_model: int = Field(64, gt=0, description="Width at which a candidate is instantiated for the gates.")
    num_heads: int = Field(2, gt=0, description="Heads passed to the candidate for the gates.")
    causal_seq_len: int = Field(
        160, gt=1, description="Probe length for causality: longer than the largest chunk size probed."
    )
    chunk_sizes: list[int] = Field(
        default_factory=lambda: [8, 16, 32, 64, 128],
        description="Chunk sizes whose edges (c-1, c, c+1) are used as cut points: chunked kernels leak there.",
    )
    batch_size: int = Field(4, gt=1, description="Batch used to check that samples do not mix.")
    batch_seq_len: int = Field(48, gt=0, description="Sequence length for the batch-independence probe.")
    tolerance: float = Field(
        1e-4, gt=0, description="Largest allowed change of an output that must not move, relative to its scale."
    )
    parameter_tolerance: float = Field(
        0.10, ge=0, description="Allowed relative difference from the reference DeltaNet's parameter count."
    )
    speed_multiple: float = Field(
        4.0, gt=0, description="Slowest allowed forward+backward step, as a multiple of the reference DeltaNet's."
    )
    speed_seq_len: int = Field(
        1024, gt=0, description="Length of the speed probe (batch 1): long enough that per-token loops show."
    )
    timing_repeats: int = Field(3, gt=0, description="Timed repeats per probe after a warm-up; the median counts.")
    probe_step_limit_s: float = Field(
        10.0, gt=0, description="A single probe step slower than this stops repeating (the gate still judges it)."
    )
    scaling_seq_lens: list[int] = Field(
        default_factory=lambda: [256, 512, 1024, 2048, 4096],
        min_length=2,
        description="Increasing lengths at which time and peak memory of a training step are measured.",
    )
    scaling_fit_points: int = Field(
        3,
        ge=2,
        description="The exponent is fitted over this many of the longest lengths (overheads dominate short ones).",
    )
    scaling_exponent_bound: float = Field(
        1.5, gt=0, description="Largest allowed fitted exponent of time or memory in sequence length."
    )

    @model_validator(mode="after")
    def _scaling_probe_is_consistent(self) -> GatesConfig:
        lengths = self.scaling_seq_lens
        if any(b <= a for a, b in zip(lengths, lengths[1:])):
            raise ValueError(f"gates.scaling_seq_lens must increase strictly, got {lengths}")
        if self.scaling_fit_points > len(lengths):
            raise ValueError(
                f"gates.scaling_fit_points={self.scaling_fit_points} exceeds the {len(lengths)} scaling_seq_lens"
            )
        return self


class SandboxConfig(_Strict):
    """Limits of every job's worker process (see docs/sandbox.md for what each layer stops)."""

    memory_limit_gb: float = Field(
        8.0, gt=0, description="Address-space limit of a job process; a larger allocation fails in the job."
    )
    cpu_limit_factor: float = Field(
        1.5, gt=0, description="CPU-seconds limit as a multiple of (job time limit × threads): stops thread hogs."
    )
    file_size_limit_mb: float = Field(64.0, gt=0, description="Largest file a job may write (in its own directory).")
    isolate_network: bool = Field(True, description="Put the job in an empty network namespace where permitted.")
    landlock: bool = Field(
        True, description="Use Linux Landlock (where the kernel has it) to refuse writes outside the job directory."
    )


class WatchdogConfig(_Strict):
    """When the Engineer stops a training run early, from the (step, loss) stream it reports."""

    leak_floor_fraction: float = Field(
        0.5,
        ge=0,
        description="Stop a run whose smoothed training loss falls below this fraction of the best reference's "
        "final training loss on the task: a leak the gates missed. 0 disables.",
    )
    explosion_factor: float = Field(
        4.0, gt=1, description="Stop a run whose smoothed loss rises above this multiple of its first loss."
    )
    smoothing: float = Field(
        0.9, ge=0, lt=1, description="Exponential smoothing of the reported loss before the checks above."
    )
    warmup_steps: int = Field(20, ge=0, description="Steps before the leak and explosion checks start.")


class ExecutionConfig(_Strict):
    """Where evaluation jobs run: a local pool of fresh single-thread processes by default."""

    workers: int | None = Field(
        None,
        gt=0,
        description="Parallel job processes; unset means usable cores // threads_per_worker. Measured: one thread "
        "per process beats threads in one process.",
    )
    threads_per_worker: int = Field(1, gt=0, description="torch intra-op threads inside each job process.")
    job_timeout_s: float = Field(1800.0, gt=0, description="Wall-clock limit of one training job.")
    gate_timeout_s: float = Field(
        300.0, gt=0, description="Wall-clock limit of one candidate's gate run (a hung candidate is killed)."
    )
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)

    def worker_count(self) -> int:
        """``workers``, or as many single-job processes as the cores this process may use allow."""
        if self.workers is not None:
            return self.workers
        return max(1, len(os.sched_getaffinity(0)) // self.threads_per_worker)


class EngineerConfig(_Strict):
    """How the Engineer turns a proposal into a candidate that passed the gates."""

    max_repairs: int = Field(
        3, ge=0, description="Repair attempts after a failed gate run, each re-checked from scratch."
    )


class ResearcherConfig(_Strict):
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


class CognitionConfig(_Strict):
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


LLM_AGENTS = ("planner", "debugger", "judge", "extractor")


class LLMAgentConfig(_Strict):
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


class LLMConfig(_Strict):
    """The LLM agents (LLM researcher, optional novelty judge, `asiarch cognition add`) and record/replay."""

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


class NoveltyConfig(_Strict):
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


class CampaignConfig(_Strict):
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


class AnalystConfig(_Strict):
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
        0.0, ge=0, description="Weight of an optional qualitative judge's score in [-1, 1] added to fitness; 0 = off."
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
    max_promotions: int = Field(3, ge=0, description="Candidates a campaign may promote to the confirm stage.")
    confirm_rivals: int = Field(
        2, gt=0, description="Rivals re-measured at the confirm stage: the strongest at screen (the confirm stage "
        "costs 50 jobs per architecture, so all six would take hours on 2 cores)."
    )
    discovery_alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level of the discovery test, after the Bonferroni correction."
    )
    non_inferiority_sd: float = Field(
        1.0, ge=0, description="A discovery may trail the strongest rival on no task by more than this many spreads."
    )

    @model_validator(mode="after")
    def _floors_are_positive(self) -> AnalystConfig:
        zero = [metric for metric, floor in self.spread_floor.items() if not floor > 0]
        if zero:
            raise ValueError(f"analyst.spread_floor.{zero[0]} must be > 0 (it divides score differences)")
        return self


class Config(_Strict):
    """The root of the configuration tree."""

    stages: dict[str, StageConfig] = Field(default_factory=default_stages)
    references: list[str] = Field(
        default_factory=lambda: [
            "softmax",
            "deltanet",
            "gated_deltanet",
            "gla",
            "mamba2",
            "retnet",
            "linear_elu",
        ],
        min_length=1,
        description="Reference architectures from asiarch.arch.zoo that define 'normal' at each stage.",
    )
    gates: GatesConfig = Field(default_factory=GatesConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    engineer: EngineerConfig = Field(default_factory=EngineerConfig)
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)
    researcher: ResearcherConfig = Field(default_factory=ResearcherConfig)
    cognition: CognitionConfig = Field(default_factory=CognitionConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    campaign: CampaignConfig = Field(default_factory=CampaignConfig)
    analyst: AnalystConfig = Field(default_factory=AnalystConfig)
    store: str = Field(
        "asiarch.db",
        description="The experiment store: an SQLite file (relative to the working directory) or a database URL "
        "such as postgresql+psycopg://user@host/db.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "asiarch",
        description="Per-machine cache (reference baselines). Safe to delete.",
    )

    def stage(self, name: str) -> StageConfig:
        if name not in self.stages:
            raise ConfigError(f"unknown stage {name!r}; configured stages: {', '.join(self.stages)}")
        return self.stages[name]


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {key!r} is not a section")
    node[leaf] = value


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value (e.g. execution.workers=4)")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"config key {where}: {first['msg']} (got {first.get('input')!r})"


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> Config:
    """Build the config from defaults, an optional YAML file, then ``key.path=value`` overrides."""
    tree: dict[str, Any] = Config().model_dump(mode="json")
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        tree = _merge(tree, loaded)
    for text in overrides or []:
        key, value = _parse_override(text)
        _set_dotted(tree, key, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into ``base``; a stage or task given in YAML replaces the default whole."""
    merged = dict(base)
    for key, value in update.items():
        if key == "stages" and isinstance(value, dict):
            merged[key] = {**base.get(key, {}), **value}
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged
