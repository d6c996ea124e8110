"""Spec → candidate source: a readable, commented, self-contained `Mixer` file.

The generated file imports only what the contract allows (torch, einops, math and `asiarch.ops`),
defines only the helpers it uses, and names its parameters as the zoo does (`q_proj`, `convs`,
`beta_proj`, `decay.dt_proj`, …) so a spec of a reference architecture loads the reference's weights
exactly — that is how the grammar is tested to express the zoo. Initialisation follows the zoo's
conventions: gates start at the identity and decays start slow.
"""

from __future__ import annotations

import textwrap

from asiarch.agents.researcher.offline.grammar import (
    DELTA_RULES,
    OUT_GATE_RANK_DIVISOR,
    POSITIVE_FEATURE_MAPS,
    TAYLOR_DIM,
    VECTOR_GATE_RANK,
    FirPath,
    GlobalPath,
    MemoryPath,
    Spec,
    WindowPath,
)

_HEADER_WIDTH = 96

_SHORT_CONV = '''
class ShortConv(nn.Module):
    """Causal depthwise convolution over time, then SiLU: cheap local mixing before the memory."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(kernel_size)
        self.weight = nn.Parameter(torch.empty(channels, kernel_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(causal_conv1d(x, self.weight))
'''

_SLOW_DECAY = '''
def slow_decay_bias(size: int) -> torch.Tensor:
    """Bias b with softplus(b) log-uniform in [SLOW_DECAY_LOW, SLOW_DECAY_HIGH]: forgetting starts slow."""
    target = torch.exp(torch.empty(size).uniform_(math.log(SLOW_DECAY_LOW), math.log(SLOW_DECAY_HIGH)))
    return target + torch.log(-torch.expm1(-target))


def slow_decay_projection(d_in: int, d_out: int) -> nn.Linear:
    """A projection whose -softplus output starts as slow forgetting, nearly independent of the input."""
    proj = nn.Linear(d_in, d_out, bias=True)
    with torch.no_grad():
        proj.weight.mul_(0.1)
        proj.bias.copy_(slow_decay_bias(d_out))
    return proj
'''

_SCALAR_DECAY = '''
class ScalarDecay(nn.Module):
    """Data-dependent decay per head and token: dt = softplus(w·x + b), log decay = -exp(log_a)·dt."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.dt_proj = slow_decay_projection(d_model, num_heads)
        self.log_a = nn.Parameter(torch.zeros(num_heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dt = rearrange(F.softplus(self.dt_proj(x)), "b t h -> b h t")
        return dt, -torch.exp(self.log_a).view(1, -1, 1) * dt
'''

_IDENTITY_GATE = '''
class IdentityGate(nn.Module):
    """Low-rank output gate 2·sigmoid(U D x) with U = 0: exactly the identity at initialisation."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        rank = max(1, d_model // OUT_GATE_RANK_DIVISOR)
        self.down = nn.Linear(d_model, rank, bias=False)
        self.up = nn.Linear(rank, d_model, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y * (2.0 * torch.sigmoid(self.up(self.down(x))))
'''

_FEATURE_MAPS = {
    "identity": None,
    "elu_plus_one": "F.elu({t}) + 1.0",
    "relu": "F.relu({t})",
    "silu_l2": "F.normalize(F.silu({t}), dim=-1)",
    "l2": "F.normalize({t}, dim=-1)",
    "softmax": "{t}.softmax(dim=-1)",
    "taylor": "self.{p}taylor({t})",
}

_RULE_DOC = {
    "additive": "Linear attention: S_t = S_{t-1} + k_t v_t^T (never forgets)",
    "fixed_decay": "Retention: S_t = g S_{t-1} + k_t v_t^T with a fixed decay g per head",
    "scalar_decay": "Selective SSM (Mamba2-style): S_t = exp(-a·dt_t) S_{t-1} + dt_t k_t v_t^T",
    "vector_decay": "Gated linear attention: a data-dependent forget gate per key channel",
    "delta": "Delta rule: S_t = (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T overwrites the value stored under k_t",
    "gated_delta": "Gated delta rule: the delta rule with a data-dependent decay per head",
    "negative_delta": "Delta rule with b_t in (0, 2): negative eigenvalues let the state flip, not only erase",
    "multi_step_delta": "Several delta steps per token with re-scaled keys: richer state transitions",
}


def _ops_used(spec: Spec) -> list[str]:
    ops: set[str] = {"causal_conv1d"} if spec.short_conv or any(isinstance(p, FirPath) for p in spec.paths) else set()
    for path in spec.paths:
        if isinstance(path, WindowPath):
            ops.add("sliding_window_attention")
        elif isinstance(path, GlobalPath):
            ops.add("softmax_attention")
        elif isinstance(path, MemoryPath):
            for rule in path.rules:
                ops.add(
                    {
                        "additive": "linear_attention",
                        "fixed_decay": "scalar_decay_attention",
                        "scalar_decay": "scalar_decay_attention",
                        "vector_decay": "gated_linear_attention",
                        "delta": "delta_rule",
                        "negative_delta": "delta_rule",
                        "multi_step_delta": "delta_rule",
                        "gated_delta": "gated_delta_rule",
                    }[rule]
                )
    return sorted(ops)


def _rules(spec: Spec) -> set[str]:
    return {rule for path in spec.paths if isinstance(path, MemoryPath) for rule in path.rules}


def _prefix(spec: Spec, index: int) -> str:
    return "" if len(spec.paths) == 1 else f"p{index}_"


class _Writer:
    """Collects the pieces of one generated file."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.init: list[str] = []
        self.methods: list[str] = []
        self.constants: dict[str, str] = {}
        self.helpers: list[str] = []
        self.uses_per_head = False

    def helper(self, text: str) -> None:
        if text not in self.helpers:
            self.helpers.append(text)

    def method(self, text: str) -> None:
        self.methods.append(textwrap.dedent(text).strip("\n"))


def _feature_lines(path: MemoryPath, prefix: str, normalise: bool) -> list[str]:
    expression = _FEATURE_MAPS[path.feature_map]
    lines = []
    if expression is not None:
        lines.append(f"q, k = {expression.format(t='q', p=prefix)}, {expression.format(t='k', p=prefix)}")
    if normalise and path.feature_map not in ("l2", "silu_l2"):
        lines.append("q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)")
    return lines


def _rule_method(writer: _Writer, path: MemoryPath, rule: str, prefix: str) -> str:
    """Adds the parameters and the method of one update rule; returns the method's name."""
    name = f"{prefix}{rule}"
    body = [f'"""{_RULE_DOC[rule]}."""']
    body += _feature_lines(path, prefix, normalise=rule in DELTA_RULES)
    if rule in ("delta", "negative_delta", "gated_delta"):
        writer.init.append(f"self.{prefix}beta_proj = nn.Linear(d_model, num_heads, bias=True)")
        writer.uses_per_head = True
        scale = "2.0 * " if rule == "negative_delta" else ""
        body.append("q = q / math.sqrt(q.shape[-1])")
        body.append(f"beta = {scale}self.per_head(torch.sigmoid(self.{prefix}beta_proj(x)))[:, heads]")
        if rule == "gated_delta":
            writer.init.append(f"self.{prefix}decay = ScalarDecay(d_model, num_heads)")
            body.append(f"_, log_decay = self.{prefix}decay(x)")
            body.append("return gated_delta_rule(q, k, v, beta, log_decay[:, heads])")
        else:
            body.append("return delta_rule(q, k, v, beta)")
    elif rule == "multi_step_delta":
        steps = path.steps
        writer.constants["MULTI_STEPS"] = str(steps)
        writer.init.append(f"self.{prefix}beta_proj = nn.Linear(d_model, num_heads * MULTI_STEPS, bias=True)")
        writer.init.append(
            f"self.{prefix}step_key_scale = nn.Parameter(1.0 + 0.5 * torch.randn(MULTI_STEPS - 1, d_model))"
        )
        writer.init.append(f"self.{prefix}step_value_scale = nn.Parameter(torch.ones(MULTI_STEPS - 1, d_model))")
        body += [
            "q = q / math.sqrt(q.shape[-1])",
            f"key_scale = rearrange(self.{prefix}step_key_scale, \"s (h d) -> s h d\", h=self.num_heads)[:, heads]",
            f"value_scale = rearrange(self.{prefix}step_value_scale, \"s (h d) -> s h d\", h=self.num_heads)[:, heads]",
            "# Step 0 uses the token's own key and value; later steps re-scaled copies of them.",
            "keys = [k] + [F.normalize(k * key_scale[s, :, None, :], dim=-1) for s in range(MULTI_STEPS - 1)]",
            "values = [v] + [v * value_scale[s, :, None, :] for s in range(MULTI_STEPS - 1)]",
            f"beta = rearrange(torch.sigmoid(self.{prefix}beta_proj(x)), \"b t (h s) -> b h (t s)\", s=MULTI_STEPS)",
            "beta = beta[:, heads]",
            "# Interleave the steps along time; the output is read after the token's last step.",
            "stacked_k = torch.stack(keys, dim=3).flatten(2, 3)",
            "stacked_v = torch.stack(values, dim=3).flatten(2, 3)",
            "stacked_q = q.repeat_interleave(MULTI_STEPS, dim=2)",
            "out = delta_rule(stacked_q, stacked_k, stacked_v, beta)",
            "return out[:, :, MULTI_STEPS - 1 :: MULTI_STEPS]",
        ]
        writer.uses_per_head = True
    elif rule == "scalar_decay":
        writer.init.append(f"self.{prefix}decay = ScalarDecay(d_model, num_heads)")
        body.append(f"dt, log_decay = self.{prefix}decay(x)")
        body.append("dt, log_decay = dt[:, heads], log_decay[:, heads]")
        body.append("return scalar_decay_attention(q, k * dt.unsqueeze(-1), v, log_decay)")
    elif rule == "fixed_decay":
        writer.constants["RETENTION_BASE_EXPONENT"] = "5.0"
        writer.init += [
            "exponents = -RETENTION_BASE_EXPONENT - torch.arange(num_heads, dtype=torch.float32)",
            f'self.register_buffer("{prefix}log_decay", torch.log1p(-torch.pow(2.0, exponents)).view(1, num_heads, 1))',
        ]
        body.append("q = q / math.sqrt(q.shape[-1])")
        body.append(f"log_decay = self.{prefix}log_decay[:, heads].expand(q.shape[0], -1, q.shape[2])")
        body.append("return scalar_decay_attention(q, k, v, log_decay)")
    elif rule == "vector_decay":
        writer.constants["GATE_RANK"] = str(VECTOR_GATE_RANK)
        writer.init.append(f"self.{prefix}gate_down = nn.Linear(d_model, GATE_RANK, bias=False)")
        writer.init.append(f"self.{prefix}gate_up = slow_decay_projection(GATE_RANK, d_model)")
        body.append(f"log_gate = -F.softplus(self.{prefix}gate_up(self.{prefix}gate_down(x)))")
        body.append('log_gate = rearrange(log_gate, "b t (h d) -> b h t d", h=self.num_heads)[:, heads]')
        body.append("if log_gate.shape[-1] != q.shape[-1]:")
        body.append("    log_gate = log_gate.mean(dim=-1, keepdim=True).expand_as(q).contiguous()")
        body.append("return gated_linear_attention(q / math.sqrt(q.shape[-1]), k, v, log_gate)")
    else:
        if path.feature_map in POSITIVE_FEATURE_MAPS:
            body.append("return linear_attention(q, k, v, normalize=True)")
        else:
            body.append("return linear_attention(q / math.sqrt(q.shape[-1]), k, v)")
    signature = (
        f"def {name}(\n    self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor, heads: slice\n"
        ") -> torch.Tensor:"
    )
    writer.method(signature + "\n" + textwrap.indent("\n".join(body), "    "))
    return name


def _memory_path(writer: _Writer, path: MemoryPath, index: int) -> str:
    prefix = _prefix(writer.spec, index)
    if path.feature_map == "taylor":
        writer.constants["TAYLOR_DIM"] = str(TAYLOR_DIM)
        writer.init.append(
            f"self.{prefix}taylor_proj = nn.Parameter(torch.randn(self.head_dim, TAYLOR_DIM) / math.sqrt(self.head_dim))"
        )
        writer.method(
            f'''
            def {prefix}taylor(self, t: torch.Tensor) -> torch.Tensor:
                """Second-order Taylor features of exp(q·k) on a small projection: [1, z, z⊗z/√2]."""
                z = (t @ self.{prefix}taylor_proj) * TAYLOR_DIM**-0.25
                square = (z.unsqueeze(-1) * z.unsqueeze(-2)).flatten(-2) / math.sqrt(2.0)
                return torch.cat([torch.ones_like(z[..., :1]), z, square], dim=-1)
            '''
        )
    names = [_rule_method(writer, path, rule, prefix + (f"h{i}_" if len(path.rules) > 1 else "")) for i, rule in
             enumerate(path.rules)]
    if len(names) == 1:
        return f"self.{names[0]}(q, k, v, x, slice(None))"
    method = f"{prefix}headwise"
    writer.method(
        f'''
        def {method}(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            """Head-wise hybrid: the first half of the heads runs {path.rules[0]}, the rest {path.rules[1]}."""
            split = max(1, self.num_heads // 2)
            first, rest = slice(0, split), slice(split, None)
            out = self.{names[0]}(q[:, first], k[:, first], v[:, first], x, first)
            if split == self.num_heads:
                return out
            other = self.{names[1]}(q[:, rest], k[:, rest], v[:, rest], x, rest)
            return torch.cat([out, other], dim=1)
        '''
    )
    return f"self.{method}(q, k, v, x)"


def _fir_path(writer: _Writer, path: FirPath, index: int) -> str:
    prefix = _prefix(writer.spec, index)
    writer.constants[f"{prefix.upper()}FIR_KERNELS"] = repr(tuple(path.kernel_sizes))
    writer.init.append(
        f"self.{prefix}fir = nn.ParameterList(identity_fir(d_model, size) for size in {prefix.upper()}FIR_KERNELS)"
    )
    writer.helper(
        '''
def identity_fir(channels: int, size: int) -> nn.Parameter:
    """A causal FIR filter that starts as the identity (current-token tap 1) plus small taps into the past."""
    weight = 0.02 * torch.randn(channels, size)
    weight[:, -1] = 1.0
    return nn.Parameter(weight)
'''
    )
    writer.method(
        f'''
        def {prefix}multiscale_fir(self, v: torch.Tensor) -> torch.Tensor:
            """Depthwise causal filters of several lengths on the values, averaged: local context at several scales."""
            flat = rearrange(v, "b h t d -> b t (h d)")
            out = sum(causal_conv1d(flat, weight) for weight in self.{prefix}fir) / len(self.{prefix}fir)
            return self.heads(out)
        '''
    )
    return f"self.{prefix}multiscale_fir(v)"


def _fusion(writer: _Writer) -> None:
    spec, fusion = writer.spec, writer.spec.fusion
    count = len(spec.paths)
    writer.constants["NUM_PATHS"] = str(count)
    if fusion.kind == "sum":
        writer.init.append("self.path_scale = nn.Parameter(torch.full((NUM_PATHS, num_heads, 1, 1), 1.0 / NUM_PATHS))")
        writer.method(
            '''
            def fuse(self, outputs: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
                """Paths summed with a learned scale per path and head."""
                return sum(scale * out for scale, out in zip(self.path_scale, outputs))
            '''
        )
        return
    writer.init.append("self.path_logits = nn.Linear(d_model, num_heads * NUM_PATHS, bias=True)")
    writer.init.append("with torch.no_grad():")
    writer.init.append("    self.path_logits.weight.mul_(0.1)")
    writer.init.append("    self.path_logits.bias.zero_()")
    lines = ['logits = rearrange(self.path_logits(x), "b t (h p) -> p b h t 1", p=NUM_PATHS)']
    if fusion.kind == "sigmoid_gates":
        doc = "Independent sigmoid gate per path, head and token (1 at initialisation), averaged."
        lines.append("weights = 2.0 * torch.sigmoid(logits) / NUM_PATHS")
    else:
        doc = "Softmax router over paths per head and token"
        if fusion.temperature:
            writer.init.append("self.router_temperature = nn.Parameter(torch.zeros(num_heads, 1, 1))")
            lines.append("logits = logits / (F.softplus(self.router_temperature) / math.log(2.0))")
            doc += ", with a learned temperature"
        lines.append("weights = logits.softmax(dim=0)")
        if fusion.floor > 0:
            writer.constants["ROUTER_FLOOR"] = repr(fusion.floor)
            writer.init.append("self.floor_logit = nn.Parameter(torch.zeros(NUM_PATHS, num_heads, 1, 1))")
            lines.append("# A learned floor per path and head, at most ROUTER_FLOOR, so no path starves.")
            lines.append("floor = ROUTER_FLOOR * torch.sigmoid(self.floor_logit)")
            lines.append("weights = floor + (1.0 - floor.sum(dim=0, keepdim=True)) * weights")
            doc += " and learned floors"
        doc += "."
    lines.append("return sum(w * out for w, out in zip(weights, outputs))")
    writer.method(
        "def fuse(self, outputs: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:\n"
        + textwrap.indent(f'"""{doc}"""\n' + "\n".join(lines), "    ")
    )


def _path_calls(writer: _Writer) -> list[str]:
    calls = []
    for index, path in enumerate(writer.spec.paths):
        if isinstance(path, MemoryPath):
            calls.append(_memory_path(writer, path, index))
        elif isinstance(path, FirPath):
            calls.append(_fir_path(writer, path, index))
        elif isinstance(path, WindowPath):
            prefix = _prefix(writer.spec, index)
            writer.constants[f"{prefix.upper()}WINDOW"] = str(path.window)
            calls.append(f"sliding_window_attention(q, k, v, {prefix.upper()}WINDOW)")
        else:
            calls.append("softmax_attention(q, k, v)")
    return calls


def _forward(writer: _Writer, calls: list[str]) -> str:
    spec = writer.spec
    lines = ["q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)"]
    if spec.short_conv:
        lines.append("q, k, v = (conv(t) for conv, t in zip(self.convs, (q, k, v)))")
    lines.append("q, k, v = self.heads(q), self.heads(k), self.heads(v)")
    if len(calls) == 1:
        lines.append(f"o = {calls[0]}")
    else:
        lines.append("outputs = [")
        lines += [f"    {call}," for call in calls]
        lines.append("]")
        lines.append("o = self.fuse(outputs, x)")
    if spec.value_skip:
        lines.append("o = o + self.skip * v")
    if spec.head_norm:
        lines.append("o = self.head_norm(o)")
    lines.append('y = rearrange(o, "b h t d -> b t (h d)")')
    if spec.output_gate:
        lines.append("y = self.out_gate(x, y)")
    lines.append("return self.o_proj(y)")
    return "def forward(self, x: torch.Tensor) -> torch.Tensor:\n" + textwrap.indent("\n".join(lines), "    ")


def _docstring(title: str, motivation: str) -> str:
    wrapped = "\n".join(textwrap.wrap(motivation, _HEADER_WIDTH)) if motivation else ""
    body = f"{title}\n\n{wrapped}\n\n" if wrapped else f"{title}\n\n"
    return f'"""{body}Generated by asi-arch\'s offline researcher from the spec stored with this experiment.\n"""'


def generate(spec: Spec, title: str, motivation: str = "") -> str:
    """The complete source of a candidate file for ``spec``."""
    writer = _Writer(spec)
    if spec.short_conv:
        writer.constants["SHORT_CONV_SIZE"] = str(spec.short_conv)
        writer.init.append("self.convs = nn.ModuleList(ShortConv(d_model, SHORT_CONV_SIZE) for _ in range(3))")
    calls = _path_calls(writer)
    if len(spec.paths) > 1:
        _fusion(writer)
    if spec.value_skip:
        writer.init.append("self.skip = nn.Parameter(torch.ones(num_heads, 1, 1))")
    if spec.head_norm:
        writer.init.append("self.head_norm = nn.RMSNorm(self.head_dim)")
    if spec.output_gate:
        writer.constants["OUT_GATE_RANK_DIVISOR"] = str(OUT_GATE_RANK_DIVISOR)
        writer.init.append("self.out_gate = IdentityGate(d_model)")
    rules = _rules(spec)
    helpers = []
    if spec.short_conv:
        helpers.append(_SHORT_CONV)
    if rules & {"scalar_decay", "gated_delta", "vector_decay"}:
        writer.constants["SLOW_DECAY_LOW"] = "1e-3"
        writer.constants["SLOW_DECAY_HIGH"] = "1e-2"
        helpers.append(_SLOW_DECAY)
    if rules & {"scalar_decay", "gated_delta"}:
        helpers.append(_SCALAR_DECAY)
    if spec.output_gate:
        helpers.append(_IDENTITY_GATE)
    helpers += writer.helpers

    init = [
        "super().__init__()",
        "if d_model % num_heads:",
        '    raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")',
        "self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads",
        "self.q_proj = nn.Linear(d_model, d_model, bias=False)",
        "self.k_proj = nn.Linear(d_model, d_model, bias=False)",
        "self.v_proj = nn.Linear(d_model, d_model, bias=False)",
        *writer.init,
        "self.o_proj = nn.Linear(d_model, d_model, bias=False)",
    ]
    methods = [
        "def __init__(self, d_model: int, num_heads: int, **kwargs: object) -> None:\n"
        + textwrap.indent("\n".join(init), "    "),
        'def heads(self, t: torch.Tensor) -> torch.Tensor:\n    return rearrange(t, "b t (h d) -> b h t d", h=self.num_heads)',
    ]
    if writer.uses_per_head:
        methods.append(
            'def per_head(self, t: torch.Tensor) -> torch.Tensor:\n    return rearrange(t, "b t h -> b h t")'
        )
    methods += writer.methods
    methods.append(_forward(writer, calls))

    constants = "\n".join(f"{name} = {value}" for name, value in writer.constants.items())
    ops = ", ".join(_ops_used(spec))
    parts = [
        _docstring(title, motivation),
        "",
        "import math",
        "",
        "import torch",
        "from einops import rearrange",
        "from torch import nn",
        "from torch.nn import functional as F",
        "",
        f"from asiarch.ops import {ops}",
        "",
    ]
    if constants:
        parts += [constants, "", ""]
    parts += [helper.strip("\n") + "\n\n" for helper in helpers]
    parts.append(
        "class Mixer(nn.Module):\n"
        + textwrap.indent(f'"""{_summary(spec)}"""\n\n' + "\n\n".join(methods), "    ")
    )
    return "\n".join(parts).rstrip() + "\n"


def _summary(spec: Spec) -> str:
    pieces = []
    for path in spec.paths:
        if isinstance(path, MemoryPath):
            rules = " / ".join(rule.replace("_", " ") for rule in path.rules)
            pieces.append(f"{rules} memory with {path.feature_map.replace('_', ' ')} features")
        elif isinstance(path, FirPath):
            pieces.append(f"FIR filters of lengths {', '.join(map(str, path.kernel_sizes))}")
        elif isinstance(path, WindowPath):
            pieces.append(f"sliding-window attention over {path.window} tokens")
        else:
            pieces.append("global softmax attention")
    joined = pieces[0] if len(pieces) == 1 else f"{spec.fusion.kind} fusion of " + "; ".join(pieces)
    return joined[0].upper() + joined[1:] + "."
