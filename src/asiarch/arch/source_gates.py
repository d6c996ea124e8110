"""Static gates: what can be decided from a candidate's source without running it.

parse → contract (the layer class and its ``forward`` exist) → imports and escape hatches.
The import check walks the AST: only the contract's modules may be imported (anything goes
under ``if TYPE_CHECKING:``, which never runs), and the names and attributes that reach the
interpreter's machinery — ``__import__``, ``eval``, ``exec``, ``open``, ``getattr`` with a
computed or dunder name, ``__subclasses__``/``__globals__`` walks, ``torch.load``/``torch.hub``,
seed tampering — are refused.

What this cannot catch: behaviour reached through allowed objects by routes that do not spell a
refused name (for example a method of a torch object that itself opens files or spawns
processes), and anything decided at run time from data. Those are the sandbox's job: candidate
code only ever runs in a separate, resource-limited worker process.
"""

from __future__ import annotations

import ast

from asiarch.arch.contract import ASI_ARCH_CLASS, CONTRACT_CLASS, is_allowed_import
from asiarch.arch.verdict import Verdict

FORBIDDEN_NAMES = frozenset(
    {
        "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "breakpoint",
        "__builtins__", "__loader__", "__spec__", "memoryview",
    }
)  # fmt: skip
"""Builtins that load code, touch files or expose the interpreter; no layer needs them."""

FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__subclasses__", "__bases__", "__base__", "__mro__", "__globals__", "__builtins__", "__code__",
        "__closure__", "__dict__", "__getattribute__", "__loader__", "__spec__", "__self__", "__func__",
        "__reduce__", "__reduce_ex__", "__setattr__", "__delattr__", "__import__",
        "load", "save", "hub", "cpp_extension", "load_library", "package", "multiprocessing", "distributed",
        "_dynamo", "_C", "manual_seed", "seed", "set_rng_state", "default_generator", "set_num_threads", "system",
        "popen", "environ", "environb", "getenv",
        "__traceback__", "tb_frame", "tb_next", "f_back", "f_locals", "f_globals", "f_builtins", "gi_frame",
        "cr_frame", "ag_frame", "_getframe", "_current_frames", "settrace", "setprofile", "get_objects",
        "get_referrers", "get_referents",
    }
)  # fmt: skip
"""Attributes that reach interpreter internals, files, processes, other processes' tensors, the RNG, the
environment (secrets), or the stack frames and object graph where the trainer keeps the batch's targets."""

REFLECTION_CALLS = frozenset({"getattr", "setattr", "delattr"})


def parse_gate(source: str, filename: str, max_bytes: int | None = None) -> tuple[Verdict, ast.Module | None]:
    size = len(source.encode("utf-8"))
    if max_bytes is not None and size > max_bytes:
        return Verdict("parse", False, source_too_large(size, max_bytes)), None
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return Verdict("parse", False, f"syntax error at line {exc.lineno}: {exc.msg}"), None
    return Verdict("parse", True, "the file parses"), tree


def _layer_class(tree: ast.Module) -> ast.ClassDef | None:
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    return classes.get(CONTRACT_CLASS) or classes.get(ASI_ARCH_CLASS)


def contract_gate(tree: ast.Module) -> Verdict:
    layer = _layer_class(tree)
    if layer is None:
        return Verdict(
            "contract", False, f"no top-level class {CONTRACT_CLASS} (or ASI-Arch {ASI_ARCH_CLASS}); define one"
        )
    methods = {node.name for node in layer.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in ("__init__", "forward") if name not in methods]
    if missing:
        return Verdict("contract", False, f"class {layer.name} has no {missing[0]} method; define it")
    return Verdict("contract", True, f"class {layer.name} with __init__ and forward")


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of every node under an ``if TYPE_CHECKING:`` block (those imports never run)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                guarded.update(id(n) for n in ast.walk(child))
    return guarded


def _problem(node: ast.AST, asi_arch: bool) -> str | None:
    if isinstance(node, ast.Import):
        bad = [alias.name for alias in node.names if not is_allowed_import(alias.name, asi_arch=asi_arch)]
        return f"imports {bad[0]}, which candidates may not use" if bad else None
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return (
            None
            if is_allowed_import(module, asi_arch=asi_arch)
            else f"imports from {module}, which candidates may not use"
        )
    if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
        return f"uses {node.id}, which can load code or touch files"
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
        return f"accesses .{node.attr}, which reaches files, processes, the RNG, secrets or interpreter internals"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REFLECTION_CALLS:
        if len(node.args) < 2:
            return None
        name = node.args[1]
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return f"calls {node.func.id} with a computed attribute name"
        if name.value.startswith("__") or name.value in FORBIDDEN_ATTRIBUTES:
            return f"calls {node.func.id} for {name.value!r}, which reaches interpreter internals"
    return None


def _imported_names(tree: ast.Module) -> set[str]:
    """Names bound by the file's imports: modules (``torch``, ``F``) and library objects (``Module``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _patch(node: ast.AST, imported: set[str]) -> str | None:
    """An assignment to (or deletion of) an attribute of something imported: rebinding library code."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    else:
        return None
    for target in (t for top in targets for t in ast.walk(top)):
        root = target
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if isinstance(target, ast.Attribute) and isinstance(root, ast.Name) and root.id in imported:
            return f"assigns to {ast.unparse(target)}, which rebinds library code (monkeypatching)"
    return None


def imports_gate(tree: ast.Module) -> Verdict:
    layer = _layer_class(tree)
    asi_arch = layer is not None and layer.name == ASI_ARCH_CLASS
    guarded = _type_checking_nodes(tree)
    imported = _imported_names(tree)
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        problem = _problem(node, asi_arch) or _patch(node, imported)
        if problem is not None:
            return Verdict(
                "imports",
                False,
                f"line {getattr(node, 'lineno', '?')} {problem}; use only torch, einops, math, typing, "
                "dataclasses, functools and asiarch.ops",
            )
    return Verdict("imports", True, "only allowed imports and no escape hatches")


def source_too_large(size: int, max_bytes: int) -> str:
    return (f"the source is {size / 1024:,.0f} KiB; a candidate may have at most {max_bytes // 1024:,} KiB "
            "(gates.max_source_kb)")  # fmt: skip


def run_source_gates(source: str, filename: str, max_bytes: int | None = None) -> list[Verdict]:
    """parse (within ``max_bytes``) → contract → imports, stopping at the first failure."""
    verdict, tree = parse_gate(source, filename, max_bytes)
    verdicts = [verdict]
    if tree is None:
        return verdicts
    for gate in (contract_gate, imports_gate):
        verdicts.append(gate(tree))
        if not verdicts[-1].passed:
            break
    return verdicts
