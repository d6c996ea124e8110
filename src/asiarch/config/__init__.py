"""One configuration tree for the whole system, loaded from YAML with dotted CLI overrides.

Every key is declared and documented where its section is defined (``harness``: measuring a
candidate; ``agents``: the search), and the root tree and its loader live here. Unknown keys are
errors (a typo must never be silently ignored, because a mistyped budget would change what a
campaign means). Task parameters are the one exception kept open: each task validates its own
``params`` with its own model in ``asiarch.bench.tasks`` — this package imports nothing else of
the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from asiarch.config.agents import (
    LLM_AGENTS,
    AnalystConfig,
    CampaignConfig,
    CognitionConfig,
    LLMAgentConfig,
    LLMConfig,
    NoveltyConfig,
    ResearcherConfig,
)
from asiarch.config.base import ConfigError, Strict
from asiarch.config.harness import (
    EngineerConfig,
    ExecutionConfig,
    GatesConfig,
    ModelConfig,
    OptimConfig,
    RayConfig,
    SandboxConfig,
    StageConfig,
    TaskRunConfig,
    TrainConfig,
    WatchdogConfig,
    default_stages,
)

__all__ = [
    "LLM_AGENTS",
    "AnalystConfig",
    "CampaignConfig",
    "CognitionConfig",
    "Config",
    "ConfigError",
    "EngineerConfig",
    "ExecutionConfig",
    "GatesConfig",
    "LLMAgentConfig",
    "LLMConfig",
    "ModelConfig",
    "NoveltyConfig",
    "OptimConfig",
    "RayConfig",
    "ResearcherConfig",
    "SandboxConfig",
    "StageConfig",
    "TaskRunConfig",
    "TrainConfig",
    "WatchdogConfig",
    "default_stages",
    "load_config",
]


class Config(Strict):
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

    @model_validator(mode="after")
    def _stages_use_fresh_seeds(self) -> Config:
        """Seeds (and with them the held-out data) are never shared between stages: a candidate promoted for a
        lucky seed must meet fresh ones. A stage that does not set ``seed_base`` and would overlap an earlier
        one (in the order the stages are listed) starts at the next free multiple of ``SEED_BLOCK``."""
        taken: list[tuple[str, range]] = []
        for name, stage in self.stages.items():
            if "seed_base" not in stage.model_fields_set and any(_overlap(stage.seed_range(), r) for _, r in taken):
                free = max(r.stop for _, r in taken)
                stage.seed_base = -(-free // SEED_BLOCK) * SEED_BLOCK
            taken.append((name, stage.seed_range()))
        for index, (name, seeds) in enumerate(taken):
            for other, theirs in taken[:index]:
                if _overlap(seeds, theirs):
                    raise ValueError(
                        f"stages {other} and {name} share seeds ({other} uses {theirs.start}..{theirs.stop - 1}, "
                        f"{name} {seeds.start}..{seeds.stop - 1}); give {name} its own seed_base, e.g. "
                        f"--set stages.{name}.seed_base={-(-theirs.stop // SEED_BLOCK) * SEED_BLOCK}"
                    )
        return self

    def stage(self, name: str) -> StageConfig:
        if name not in self.stages:
            raise ConfigError(f"unknown stage {name!r}; configured stages: {', '.join(self.stages)}")
        return self.stages[name]


SEED_BLOCK = 1000
"""Stages without their own seed_base are placed at multiples of this, so their seeds never meet."""


def _overlap(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


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
