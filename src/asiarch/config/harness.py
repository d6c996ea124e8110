"""Sections for measuring a candidate: the backbone, training, stages, gates, sandbox and executor."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, model_validator

from asiarch.config.base import Strict


class ModelConfig(Strict):
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


class OptimConfig(Strict):
    """AdamW with linear warm-up and cosine decay; decay applies to matrices only."""

    beta1: float = Field(0.9, gt=0, lt=1, description="AdamW first-moment decay.")
    beta2: float = Field(0.98, gt=0, lt=1, description="AdamW second-moment decay.")
    weight_decay: float = Field(0.1, ge=0, description="Decoupled weight decay on parameters with ≥ 2 dims.")
    warmup_frac: float = Field(0.05, ge=0, lt=1, description="Fraction of steps spent in linear warm-up.")
    min_lr_frac: float = Field(0.0, ge=0, le=1, description="Cosine schedule floor as a fraction of the peak lr.")
    grad_clip: float = Field(1.0, gt=0, description="Global gradient-norm clip.")


class TrainConfig(Strict):
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
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="Where the run trains; auto = CUDA when the job's process sees a GPU, else the CPU."
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16 runs the forward pass and loss under bfloat16 autocast (weights stay fp32)."
    )
    compile: bool = Field(False, description="torch.compile every mixer before training (pays off on long GPU runs).")
    kernels: bool = Field(
        True,
        description="On CUDA, route the asiarch.ops delta-rule, gated-delta-rule and (gated) linear-attention calls "
        "to flash-linear-attention's kernels when installed and usable; off = the pure-PyTorch forms everywhere.",
    )


class TaskRunConfig(Strict):
    """One task of a stage: which data, which model size, which training budget."""

    task: str = Field(description="Task name in the registry (asiarch.bench.tasks.TASKS).")
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters, validated by the task.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    weight: float = Field(1.0, ge=0, description="Weight of this task in the stage's aggregate fitness.")


class StageConfig(Strict):
    """An evaluation stage: a set of task runs, repeated over seeds (README, "How it decides")."""

    description: str = ""
    seeds: int = Field(1, gt=0, description="Seeds per candidate evaluation at this stage.")
    reference_seeds: int = Field(
        3,
        ge=2,
        description="Seeds per reference architecture; their spread defines 'noise' at this stage. At least "
        "`seeds`: a candidate's seed i is compared with each reference's seed i (same initialisation stream, "
        "same training data).",
    )
    seed_base: int = Field(
        0,
        ge=0,
        description="First seed of the stage (seeds are seed_base, seed_base+1, ...) and the test_seed of its "
        "held-out data unless a task names one. Stages must not share seeds, so a candidate promoted for a lucky "
        "seed meets fresh seeds and fresh validation and test data at the next stage.",
    )
    lr_search_seeds: int = Field(
        1,
        gt=0,
        description="The first seeds train at every learning rate of a task; the one with the best validation "
        "mean over them becomes the architecture's learning rate for the task, and later seeds train at it only.",
    )
    looks: list[int] = Field(
        default_factory=list,
        description="Cumulative candidate seed counts at which a sequential stage (confirm) tests and may stop "
        "early, e.g. [2, 4, 6]; empty = one look after all `seeds`.",
    )
    alpha_shares: list[float] = Field(
        default_factory=list,
        description="Share of a candidate's discovery level (α/m) spent at each look, e.g. [0, 0.25, 0.75]: as many "
        "as looks, summing to 1; empty = all at the last look.",
    )
    tasks: dict[str, TaskRunConfig] = Field(description="Task runs keyed by a short label used in tables.")

    @model_validator(mode="after")
    def _seeds_are_consistent(self) -> StageConfig:
        if self.reference_seeds < self.seeds:
            raise ValueError(
                f"reference_seeds ({self.reference_seeds}) must be at least seeds ({self.seeds}): every candidate seed "
                "is compared with the references' run on the same seed; raise reference_seeds"
            )
        if self.lr_search_seeds > self.seeds:
            raise ValueError(
                f"lr_search_seeds ({self.lr_search_seeds}) exceeds seeds ({self.seeds}); lower lr_search_seeds"
            )
        looks = self.look_counts()
        if any(b <= a for a, b in zip(looks, looks[1:])) or looks[-1] != self.seeds or looks[0] < self.lr_search_seeds:
            raise ValueError(
                f"looks {self.looks} must increase strictly, end at seeds ({self.seeds}) and start at or after "
                f"lr_search_seeds ({self.lr_search_seeds})"
            )
        shares = self.alpha_shares
        if shares and (len(shares) != len(looks) or min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-9):
            raise ValueError(
                f"alpha_shares {shares} must give one non-negative share per look ({len(looks)}) and sum to 1"
            )
        return self

    def alpha_share(self, look: int) -> float:
        """The share of α/m spent at look ``look`` (0-based)."""
        if self.alpha_shares:
            return self.alpha_shares[look]
        return 1.0 if look == len(self.look_counts()) - 1 else 0.0

    def look_counts(self) -> list[int]:
        """Candidate seeds analysed at each look (cumulative)."""
        return list(self.looks) or [self.seeds]

    def seed_range(self) -> range:
        """Every seed the stage may train, candidates' and references' alike."""
        return range(self.seed_base, self.seed_base + max(self.seeds, self.reference_seeds))


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
            seed_base=0,
            lr_search_seeds=1,
            tasks={"mqar": _mqar_run(steps=600), "lm": _byte_lm_run(steps=300, d_model=64, lrs=[1e-2])},
        ),
        "confirm": StageConfig(
            description="All tasks, fresh seeds and data, longer language modelling, tested in looks: screen winners.",
            seeds=6,
            reference_seeds=6,
            seed_base=1000,
            lr_search_seeds=2,
            looks=[2, 4, 6],
            alpha_shares=[0.0, 0.25, 0.75],
            tasks={
                "mqar": _mqar_run(steps=800),
                "selective_copy": _mad_run("selective_copy", steps=600),
                "noisy_recall": _mad_run("noisy_recall", steps=600),
                "fuzzy_recall": _mad_run("fuzzy_recall", steps=600),
                "lm": _byte_lm_run(steps=500, d_model=128, lrs=[1e-2, 3e-3]),
            },
        ),
    }


class GatesConfig(Strict):
    """The mechanical checks every candidate passes before it may train (probe sizes and tolerances)."""

    max_source_kb: int = Field(
        256, gt=0, description="Largest candidate source file, in KiB: a layer is a page or two of code, not megabytes."
    )
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
    prefix_tolerance: float = Field(
        1e-2,
        gt=0,
        description="Largest allowed change of a prefix's output when more tokens follow, relative to its scale: "
        "wider than `tolerance` because bfloat16 matmuls on some CPUs round differently at different lengths "
        "(2.5e-3 measured), while a layer that switches mechanism by length moves its outputs by about 1.",
    )
    parameter_tolerance: float = Field(
        0.10, ge=0, description="Allowed relative difference from the reference DeltaNet's parameter count."
    )
    speed_multiple: float = Field(
        4.0, gt=0, description="Slowest allowed forward+backward step, as a multiple of the reference DeltaNet's."
    )
    speed_seq_len: int = Field(
        1024,
        gt=0,
        description="Length of the speed probe (batch 1): long enough that per-token loops show. Every stage length "
        "is timed too.",
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
    local_growth_excess: float = Field(
        0.2,
        gt=0,
        description="From the window limit to the longest stage length, over every doubling, FLOPs and elements "
        "touched may grow at most this power of length faster than the reference DeltaNet's (quadratic work "
        "over the first positions fails).",
    )
    local_shrink_excess: float = Field(
        0.4,
        gt=0,
        description="From the shortest stage length (at least 64) to the longest, over every doubling, FLOPs and "
        "elements touched "
        "may grow at most this power of length slower than the reference DeltaNet's (a window padded to cover the "
        "stages' sequences costs the same at every length there and fails).",
    )
    stage_seq_lens: list[int] | None = Field(
        None,
        min_length=1,
        description="Sequence lengths the evaluation stages train at: the prefix-consistency, receptive-field, "
        "speed and sub-quadratic gates probe them too. Unset: every configured stage's task lengths, filled in "
        "where a gate job is built (asiarch.execute.gate_job.gates_for); a GatesConfig built on its own uses "
        "[64, 128], the built-in stages' lengths.",
    )
    max_window_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A finite attention window (an edge in how far back inputs reach) at this share of the "
        "shortest stage length or beyond (64 tokens -> 32) fails the receptive-field gate: a window that covers the "
        "evaluated sequences is full attention there, however cheap it is at longer lengths.",
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

    @model_validator(mode="after")
    def _stage_lengths_are_lengths(self) -> GatesConfig:
        if self.stage_seq_lens is not None and min(self.stage_seq_lens) < 1:
            raise ValueError(f"gates.stage_seq_lens must be positive lengths, got {self.stage_seq_lens}")
        return self

    @property
    def evaluated_seq_lens(self) -> list[int]:
        """The stage lengths, increasing: ``stage_seq_lens``, or the built-in stages' (MQAR and the MAD tasks
        at 64 tokens, byte LM at 128) when it is unset."""
        return sorted(set(self.stage_seq_lens or (64, 128)))


class SandboxConfig(Strict):
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
    toolchain: list[str] = Field(
        default_factory=lambda: ["cc", "gcc", "g++", "c++", "openssl", "ldconfig", "ptxas", "cuobjdump", "nvdisasm"],
        description="Programs a job that compiles (train.compile) or trains on a GPU (Triton) may start; every "
        "other job may start none. Empty = such jobs cannot compile.",
    )


class WatchdogConfig(Strict):
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


class RayConfig(Strict):
    """The Ray executor (``asiarch run --executor ray``; install the ``ray`` extra): one Ray task per job."""

    address: str | None = Field(
        None,
        description="Cluster to join, e.g. 'auto' or 'ray://head:10001'; unset starts a private local Ray for the run.",
    )
    num_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves per job (the job uses threads_per_worker).")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves per job (1 for the GPU scale stage).")
    memory_gb: float | None = Field(None, gt=0, description="Memory Ray reserves per job; unset reserves none.")
    resources: dict[str, float] = Field(
        default_factory=dict, description="Custom resources per job, e.g. {'a100': 1} to pin jobs to some nodes."
    )
    max_retries: int = Field(
        3, ge=0, description="Retries of a job whose worker or node died (a job's own error is never retried)."
    )
    max_in_flight: int | None = Field(
        None, gt=0, description="Jobs submitted to Ray at once; unset means the cluster's CPUs // num_cpus."
    )
    schedule_timeout_s: float = Field(
        600.0,
        gt=0,
        description="A job that has not finished within its time limit plus this long (e.g. waiting for a node "
        "that never comes) is cancelled with that reason.",
    )


class ExecutionConfig(Strict):
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
    reference_retries: int = Field(
        2, ge=0, description="Times a reference job whose worker was lost (killed from outside, crashed) runs again."
    )
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    ray: RayConfig = Field(default_factory=RayConfig)

    def worker_count(self) -> int:
        """``workers``, or as many single-job processes as the cores this process may use allow."""
        if self.workers is not None:
            return self.workers
        return max(1, len(os.sched_getaffinity(0)) // self.threads_per_worker)


class EngineerConfig(Strict):
    """How the Engineer turns a proposal into a candidate that passed the gates."""

    max_repairs: int = Field(
        3, ge=0, description="Repair attempts after a failed gate run, each re-checked from scratch."
    )
