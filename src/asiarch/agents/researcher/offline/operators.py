"""Edits on specs: mutate (add / remove / swap a motif, change a hyper-parameter), crossover, simplify.

Every operator enumerates the concrete edits it could make, each labelled with an *edit key*
(``add:local:sliding_window``, ``swap:rule:gated_delta``, ``tune:window`` …) and the motifs it
introduces. The researcher weighs those options by the Analyst's credit for the edit key and by the
cognition retrieved for the parent's weaknesses, then samples one — so the choice is steered, yet
every option keeps a chance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from asiarch.agents.researcher.offline.grammar import (
    FEATURE_MAPS,
    FIR_KERNELS,
    FLOORS,
    MAX_PATHS,
    MULTI_STEPS,
    RULES,
    SHORT_CONV_SIZES,
    FirPath,
    Fusion,
    GlobalPath,
    MemoryPath,
    Spec,
    WindowPath,
)


@dataclass(frozen=True)
class Edit:
    """One concrete change: the resulting spec, its credit key, the motifs it brings, and a sentence."""

    spec: Spec
    key: str
    motifs: tuple[str, ...]
    description: str


def _with_path(spec: Spec, index: int, path: object) -> Spec:
    paths = list(spec.paths)
    paths[index] = path
    return spec.model_copy(update={"paths": tuple(paths)})


def _memory_indices(spec: Spec) -> list[int]:
    return [i for i, path in enumerate(spec.paths) if isinstance(path, MemoryPath)]


def _rule_swaps(spec: Spec) -> list[Edit]:
    edits = []
    for index in _memory_indices(spec):
        path = spec.paths[index]
        for slot, current in enumerate(path.rules):
            for rule in RULES:
                if rule in path.rules or (rule == "multi_step_delta" and path.feature_map == "taylor"):
                    continue
                rules = list(path.rules)
                rules[slot] = rule
                new = path.model_copy(update={"rules": tuple(rules)})
                edits.append(
                    Edit(
                        _with_path(spec, index, new),
                        f"swap:rule:{rule}",
                        (f"rule:{rule}",),
                        f"replace the {current.replace('_', ' ')} update with the {rule.replace('_', ' ')} rule",
                    )
                )
    return edits


def _feature_swaps(spec: Spec) -> list[Edit]:
    edits = []
    for index in _memory_indices(spec):
        path = spec.paths[index]
        for feature in FEATURE_MAPS:
            if feature == path.feature_map or (feature == "taylor" and "multi_step_delta" in path.rules):
                continue
            new = path.model_copy(update={"feature_map": feature})
            edits.append(
                Edit(
                    _with_path(spec, index, new),
                    f"swap:feature:{feature}",
                    (f"feature:{feature}",),
                    f"use {feature.replace('_', ' ')} features for queries and keys instead of "
                    f"{path.feature_map.replace('_', ' ')}",
                )
            )
    return edits


def _hybrids(spec: Spec) -> list[Edit]:
    edits = []
    for index in _memory_indices(spec):
        path = spec.paths[index]
        if len(path.rules) == 2:
            for keep in path.rules:
                new = path.model_copy(update={"rules": (keep,)})
                edits.append(
                    Edit(
                        _with_path(spec, index, new),
                        "remove:hybrid:headwise",
                        (f"rule:{keep}",),
                        f"drop the head-wise hybrid and run {keep.replace('_', ' ')} on every head",
                    )
                )
            continue
        for rule in RULES:
            if rule == path.rules[0] or (rule == "multi_step_delta" and path.feature_map == "taylor"):
                continue
            new = path.model_copy(update={"rules": (path.rules[0], rule)})
            edits.append(
                Edit(
                    _with_path(spec, index, new),
                    "add:hybrid:headwise",
                    ("hybrid:headwise", f"rule:{rule}"),
                    f"run {rule.replace('_', ' ')} on half of the heads next to {path.rules[0].replace('_', ' ')}",
                )
            )
    return edits


def _new_paths(rng: random.Random, windows: tuple[int, ...]) -> list[tuple[object, str, tuple[str, ...], str]]:
    kernels = tuple(sorted(rng.sample(FIR_KERNELS, rng.choice((1, 2)))))
    window = rng.choice(windows)
    rule = rng.choice(RULES)
    feature = rng.choice([f for f in FEATURE_MAPS if not (f == "taylor" and rule == "multi_step_delta")])
    return [
        (
            FirPath(kernel_sizes=kernels),
            "add:conv:multiscale_fir",
            ("conv:multiscale_fir",),
            f"add a multi-scale FIR path on the values (kernels {', '.join(map(str, kernels))})",
        ),
        (
            WindowPath(window=window),
            "add:local:sliding_window",
            ("local:sliding_window",),
            f"add an exact sliding-window attention path over the last {window} tokens",
        ),
        (
            MemoryPath(feature_map=feature, rules=(rule,)),
            f"add:rule:{rule}",
            (f"rule:{rule}", f"feature:{feature}"),
            f"add a second memory path: {rule.replace('_', ' ')} with {feature.replace('_', ' ')} features",
        ),
    ]


def _path_additions(spec: Spec, rng: random.Random, windows: tuple[int, ...]) -> list[Edit]:
    if len(spec.paths) >= MAX_PATHS:
        return []
    edits = []
    for path, key, motifs, text in _new_paths(rng, windows):
        fusion = spec.fusion if len(spec.paths) > 1 else Fusion(kind=rng.choice(("router", "sigmoid_gates", "sum")))
        new = spec.model_copy(update={"paths": spec.paths + (path,), "fusion": fusion})
        fused = f"fused by {fusion.kind.replace('_', ' ')}"
        edits.append(Edit(new, key, motifs + (f"fusion:{fusion.kind}",), f"{text}, {fused}"))
    return edits


def _path_removals(spec: Spec) -> list[Edit]:
    if len(spec.paths) < 2:
        return []
    edits = []
    for index, path in enumerate(spec.paths):
        rest = spec.paths[:index] + spec.paths[index + 1 :]
        if all(isinstance(p, (FirPath, WindowPath)) for p in rest) and not isinstance(path, (FirPath, WindowPath)):
            continue  # keep at least one path with long-range memory
        edits.append(
            Edit(
                spec.model_copy(update={"paths": rest}),
                f"remove:path:{path.kind}",
                (),
                f"remove the {path.kind} path",
            )
        )
    return edits


def _fusion_edits(spec: Spec) -> list[Edit]:
    if len(spec.paths) < 2:
        return []
    edits = []
    current = spec.fusion
    for kind in ("sum", "router", "sigmoid_gates"):
        if kind != current.kind:
            new = spec.model_copy(update={"fusion": current.model_copy(update={"kind": kind})})
            edits.append(
                Edit(new, f"swap:fusion:{kind}", (f"fusion:{kind}",), f"fuse the paths by {kind.replace('_', ' ')}")
            )
    if current.kind == "router":
        for floor in FLOORS:
            if floor != current.floor:
                new = spec.model_copy(update={"fusion": current.model_copy(update={"floor": floor})})
                text = f"give every path a learned floor of up to {floor}" if floor else "remove the router floors"
                edits.append(Edit(new, "tune:fusion:floor", ("fusion:floor",) if floor else (), text))
        new = spec.model_copy(update={"fusion": current.model_copy(update={"temperature": not current.temperature})})
        text = "learn the router temperature" if not current.temperature else "fix the router temperature at 1"
        edits.append(Edit(new, "toggle:fusion:temperature", ("fusion:temperature",), text))
    return edits


def _toggles(spec: Spec) -> list[Edit]:
    edits = []
    for field, motif, on, off in (
        ("output_gate", "gate:output", "add an output gate (identity at initialisation)", "remove the output gate"),
        ("value_skip", "skip:value", "add a learned skip of the values into the output", "remove the value skip"),
        ("head_norm", "norm:head_rms", "normalise each head's output (RMSNorm)", "remove the per-head norm"),
    ):
        value = getattr(spec, field)
        verb = "remove" if value else "add"
        edits.append(
            Edit(spec.model_copy(update={field: not value}), f"{verb}:{motif}", () if value else (motif,),
                 off if value else on)
        )
    for size in SHORT_CONV_SIZES:
        if size != spec.short_conv:
            text = f"use short causal convolutions of size {size} on q/k/v" if size else "remove the short convolutions"
            edits.append(Edit(spec.model_copy(update={"short_conv": size}), "tune:conv:short", ("conv:short",), text))
    return edits


def _tunings(spec: Spec, windows: tuple[int, ...]) -> list[Edit]:
    edits = []
    for index, path in enumerate(spec.paths):
        if isinstance(path, WindowPath):
            for window in windows:
                if window != path.window:
                    edits.append(
                        Edit(_with_path(spec, index, WindowPath(window=window)), "tune:local:sliding_window",
                             ("local:sliding_window",), f"change the attention window from {path.window} to {window}")
                    )
        elif isinstance(path, FirPath):
            for size in FIR_KERNELS:
                kernels = tuple(sorted(set(path.kernel_sizes) ^ {size}))
                if kernels and len(kernels) <= 3:
                    edits.append(
                        Edit(_with_path(spec, index, FirPath(kernel_sizes=kernels)), "tune:conv:multiscale_fir",
                             ("conv:multiscale_fir",), f"use FIR kernels {', '.join(map(str, kernels))}")
                    )
        elif isinstance(path, MemoryPath) and "multi_step_delta" in path.rules:
            for steps in MULTI_STEPS:
                if steps != path.steps:
                    edits.append(
                        Edit(_with_path(spec, index, path.model_copy(update={"steps": steps})),
                             "tune:rule:multi_step_delta", ("rule:multi_step_delta",),
                             f"take {steps} delta steps per token instead of {path.steps}")
                    )
    return edits


def mutations(spec: Spec, rng: random.Random, windows: tuple[int, ...]) -> list[Edit]:
    """Every single-motif edit of ``spec`` (global paths never appear: they are quadratic).

    ``windows`` are the attention windows a new or retuned sliding-window path may take.
    """
    return (
        _rule_swaps(spec)
        + _feature_swaps(spec)
        + _hybrids(spec)
        + _path_additions(spec, rng, windows)
        + _path_removals(spec)
        + _fusion_edits(spec)
        + _toggles(spec)
        + _tunings(spec, windows)
    )


def without_global(spec: Spec, window: int) -> Spec:
    """Softmax's global path replaced by a sliding window, so a quadratic parent yields sub-quadratic children.

    The window must stay short next to the evaluated sequences: one that covers them is the global
    path again, scored as a linear design.
    """
    paths = tuple(WindowPath(window=window) if isinstance(p, GlobalPath) else p for p in spec.paths)
    return spec.model_copy(update={"paths": paths})


def crossovers(first: Spec, second: Spec, rng: random.Random) -> list[Edit]:
    """Children that take the first parent's paths plus one path of the second, or swap their trimmings."""
    edits = []
    for path in second.paths:
        if isinstance(path, GlobalPath) or path in first.paths or len(first.paths) >= MAX_PATHS:
            continue
        fusion = first.fusion if len(first.paths) > 1 else second.fusion
        child = first.model_copy(update={"paths": first.paths + (path,), "fusion": fusion})
        motif = path.kind if not isinstance(path, MemoryPath) else f"rule:{path.rules[0]}"
        edits.append(Edit(child, f"crossover:{motif}", (), f"graft the second parent's {path.kind} path"))
    trimmings = {
        "short_conv": second.short_conv,
        "output_gate": second.output_gate,
        "value_skip": second.value_skip,
        "head_norm": second.head_norm,
    }
    if any(getattr(first, name) != value for name, value in trimmings.items()):
        edits.append(
            Edit(first.model_copy(update=trimmings), "crossover:trimmings", (),
                 "keep the first parent's paths with the second parent's convolutions, norm, gate and skip")
        )
    return edits


def simplifications(spec: Spec) -> list[Edit]:
    """Edits that only take something away: what a repair or a 'simplify' step may do."""
    edits = _path_removals(spec)
    edits += [e for e in _hybrids(spec) if e.key == "remove:hybrid:headwise"]
    edits += [e for e in _toggles(spec) if e.key.startswith("remove:")]
    for index, path in enumerate(spec.paths):
        if isinstance(path, FirPath) and len(path.kernel_sizes) > 1:
            kernels = path.kernel_sizes[:-1]
            edits.append(Edit(_with_path(spec, index, FirPath(kernel_sizes=kernels)), "simplify:conv:multiscale_fir",
                              (), f"keep only FIR kernels {', '.join(map(str, kernels))}"))
        if isinstance(path, MemoryPath) and path.feature_map == "taylor":
            edits.append(Edit(_with_path(spec, index, path.model_copy(update={"feature_map": "identity"})),
                              "simplify:feature:taylor", (), "drop the Taylor feature expansion"))
        if isinstance(path, MemoryPath) and "multi_step_delta" in path.rules:
            rules = tuple("delta" if r == "multi_step_delta" else r for r in path.rules)
            if len(set(rules)) == len(rules):
                edits.append(Edit(_with_path(spec, index, path.model_copy(update={"rules": rules})),
                                  "simplify:rule:multi_step_delta", (), "take one delta step per token"))
    return edits
