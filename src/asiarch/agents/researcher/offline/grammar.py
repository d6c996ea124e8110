"""The typed grammar of designs the offline researcher composes: a spec is a small JSON tree of motifs.

A design is one or more parallel *paths* over shared q/k/v projections (a recurrent memory with a
feature map and an update rule — or two rules on two halves of the heads —, a multi-scale FIR filter
bank on the values, an exact sliding-window attention), fused by a sum, a router or sigmoid gates,
with optional short convolutions, value skip, per-head norm and output gate. Every spec names its
motifs in the shared vocabulary (`asiarch.cognition.motifs`), so the cognition base and the Analyst's
credit speak about the same pieces. The parameter count of a spec is computed here from the spec
alone: generated code never runs in the orchestrator, yet the sampler must stay inside the budget.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

FeatureMap = Literal["identity", "elu_plus_one", "relu", "silu_l2", "l2", "taylor", "softmax"]
Rule = Literal[
    "additive",
    "fixed_decay",
    "scalar_decay",
    "vector_decay",
    "delta",
    "gated_delta",
    "negative_delta",
    "multi_step_delta",
]
DELTA_RULES = frozenset({"delta", "gated_delta", "negative_delta", "multi_step_delta"})
POSITIVE_FEATURE_MAPS = frozenset({"elu_plus_one", "relu", "taylor", "softmax"})

FEATURE_MAPS: tuple[str, ...] = FeatureMap.__args__
RULES: tuple[str, ...] = Rule.__args__
SHORT_CONV_SIZES = (0, 2, 3, 4, 6)
FIR_KERNELS = (3, 5, 9, 17)
FLOORS = (0.0, 0.05, 0.1)
MULTI_STEPS = (2, 3)
MAX_PATHS = 3
TAYLOR_DIM = 8  # q/k are projected to this size before the second-order expansion (1 + r + r^2 features)
VECTOR_GATE_RANK = 8  # as the zoo's GLA: keeps the per-channel forget gate inside the parameter budget
OUT_GATE_RANK_DIVISOR = 16


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryPath(_Node):
    """A recurrent memory: feature map on q/k, then one update rule (or two, on two halves of the heads)."""

    kind: Literal["memory"] = "memory"
    feature_map: FeatureMap = "identity"
    rules: tuple[Rule, ...] = Field(("delta",), min_length=1, max_length=2)
    steps: int = Field(2, ge=2, le=4, description="Delta steps per token for multi_step_delta.")

    @model_validator(mode="after")
    def _distinct_rules(self) -> MemoryPath:
        if len(set(self.rules)) != len(self.rules):
            raise ValueError(f"a head-wise hybrid needs two different rules, got {list(self.rules)}")
        if "multi_step_delta" in self.rules and self.feature_map == "taylor":
            raise ValueError("multi_step_delta re-scales keys per channel and needs a map that keeps the head size")
        return self


class FirPath(_Node):
    """Parallel causal depthwise FIR filters of several lengths on the values."""

    kind: Literal["fir"] = "fir"
    kernel_sizes: tuple[int, ...] = Field((3, 9), min_length=1, max_length=3)


class WindowPath(_Node):
    """Exact softmax attention inside a causal sliding window (linear cost for a fixed window)."""

    kind: Literal["window"] = "window"
    window: int = Field(32, ge=2, le=256)


class GlobalPath(_Node):
    """Causal softmax attention over the whole sequence: quadratic, so only the zoo's reference uses it."""

    kind: Literal["global"] = "global"


Path = Annotated[Union[MemoryPath, FirPath, WindowPath, GlobalPath], Field(discriminator="kind")]


class Fusion(_Node):
    """How parallel paths combine (ignored for a single path)."""

    kind: Literal["sum", "router", "sigmoid_gates"] = "router"
    floor: float = Field(0.0, ge=0.0, lt=0.3, description="Largest learned minimum weight per path (router).")
    temperature: bool = Field(False, description="Learn the router's softmax temperature.")


class Spec(_Node):
    """One design. Field defaults are the zoo's conventions (short convs, head norm, no gate)."""

    paths: tuple[Path, ...] = Field(min_length=1, max_length=MAX_PATHS)
    fusion: Fusion = Fusion()
    short_conv: int = Field(4, ge=0, le=8, description="Kernel of the causal conv on q/k/v; 0 = none.")
    head_norm: bool = True
    output_gate: bool = False
    value_skip: bool = False


def parse_spec(tree: dict) -> Spec:
    """Validate a JSON tree into a Spec (raises pydantic's ValidationError with the offending field)."""
    return Spec.model_validate(tree)


def spec_tree(spec: Spec) -> dict:
    """The JSON tree stored with an experiment."""
    return spec.model_dump(mode="json")


def motifs_of(spec: Spec) -> list[str]:
    """The vocabulary motifs a design is made of, in a stable order."""
    found: list[str] = []
    if spec.short_conv:
        found.append("conv:short")
    for path in spec.paths:
        if isinstance(path, MemoryPath):
            found.append(f"feature:{path.feature_map}")
            found += [f"rule:{rule}" for rule in path.rules]
            if len(path.rules) > 1:
                found.append("hybrid:headwise")
        elif isinstance(path, FirPath):
            found.append("conv:multiscale_fir")
        elif isinstance(path, WindowPath):
            found.append("local:sliding_window")
        else:
            found.append("global:softmax")
    if len(spec.paths) > 1:
        found.append(f"fusion:{spec.fusion.kind}")
        if spec.fusion.kind == "router" and spec.fusion.floor > 0:
            found.append("fusion:floor")
        if spec.fusion.kind == "router" and spec.fusion.temperature:
            found.append("fusion:temperature")
    if spec.head_norm:
        found.append("norm:head_rms")
    if spec.output_gate:
        found.append("gate:output")
    if spec.value_skip:
        found.append("skip:value")
    return list(dict.fromkeys(found))


def feature_dim(feature_map: str, head_dim: int) -> int:
    """Size of the q/k features a map produces from one head."""
    if feature_map == "taylor":
        return 1 + TAYLOR_DIM + TAYLOR_DIM * TAYLOR_DIM
    return head_dim


def _rule_parameters(rule: str, path: MemoryPath, d_model: int, num_heads: int) -> int:
    per_head_projection = d_model * num_heads + num_heads
    if rule in ("delta", "negative_delta"):
        return per_head_projection
    if rule == "scalar_decay":
        return per_head_projection + num_heads
    if rule == "gated_delta":
        return 2 * per_head_projection + num_heads
    if rule == "multi_step_delta":
        return path.steps * per_head_projection + 2 * (path.steps - 1) * d_model
    if rule == "vector_decay":
        return d_model * VECTOR_GATE_RANK + VECTOR_GATE_RANK * d_model + d_model
    return 0


def _path_parameters(path: Path, d_model: int, num_heads: int) -> int:
    if isinstance(path, MemoryPath):
        taylor = (d_model // num_heads) * TAYLOR_DIM if path.feature_map == "taylor" else 0
        return taylor + sum(_rule_parameters(rule, path, d_model, num_heads) for rule in path.rules)
    if isinstance(path, FirPath):
        return d_model * sum(path.kernel_sizes)
    return 0


def _fusion_parameters(spec: Spec, d_model: int, num_heads: int) -> int:
    count = len(spec.paths)
    if count == 1:
        return 0
    if spec.fusion.kind == "sum":
        return num_heads * count
    learned = d_model * num_heads * count + num_heads * count
    if spec.fusion.kind == "router":
        learned += num_heads * count if spec.fusion.floor > 0 else 0
        learned += num_heads if spec.fusion.temperature else 0
    return learned


def parameter_count(spec: Spec, d_model: int, num_heads: int) -> int:
    """Exact trainable parameter count of the generated Mixer at this width (tested against the real module)."""
    head_dim = d_model // num_heads
    total = 4 * d_model * d_model
    total += 3 * d_model * spec.short_conv
    total += sum(_path_parameters(path, d_model, num_heads) for path in spec.paths)
    total += _fusion_parameters(spec, d_model, num_heads)
    total += head_dim if spec.head_norm else 0
    total += 2 * d_model * max(1, d_model // OUT_GATE_RANK_DIVISOR) if spec.output_gate else 0
    total += num_heads if spec.value_skip else 0
    return total
