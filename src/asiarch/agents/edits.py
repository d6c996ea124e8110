"""What a candidate changed relative to its parent, for the analysis record and for credit.

Grammar candidates are described in the motif vocabulary (what was added, what removed, which spec
fields changed); code without a spec (an LLM's rewrite) by a diff summary: lines added and removed and
the functions and classes whose syntax changed, compared as normalised syntax trees so comments and
layout do not count. The credit key is the operator without its name (``mutate:add:x`` → ``add:x``).
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass

from pydantic import ValidationError

from asiarch.agents.researcher.offline.grammar import motifs_of, parse_spec
from asiarch.store.queries import credit_key

SPEC_CHANGES_SHOWN = 4


@dataclass(frozen=True)
class EditSummary:
    """What changed from the parent: motifs (grammar candidates) and/or a diff summary (code)."""

    operator: str
    credit_key: str
    kind: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    lines_added: int = 0
    lines_removed: int = 0
    touched: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "none":
            return f"{self.credit_key} (no parent to compare with)"
        parts = []
        if self.added:
            parts.append("adds " + ", ".join(self.added))
        if self.removed:
            parts.append("removes " + ", ".join(self.removed))
        if self.kind == "motifs" and not (self.added or self.removed):
            parts.append("same motifs; changes " + (", ".join(self.changed) or "nothing in the spec"))
        if self.lines_added or self.lines_removed:
            parts.append(f"+{self.lines_added}/−{self.lines_removed} lines")
        if self.touched:
            parts.append("touches " + ", ".join(self.touched))
        return f"{self.credit_key}: " + ("; ".join(parts) or "no change")


def _line_changes(before: str, after: str) -> tuple[int, int]:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


def _definitions(code: str) -> dict[str, str] | None:
    """Qualified name → normalised syntax of every function and class (a class without its methods), plus
    the module's other top-level statements; None when the code does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    found: dict[str, str] = {}

    def visit(body: list[ast.stmt], prefix: str) -> list[ast.stmt]:
        rest = []
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = ast.dump(node)
            elif isinstance(node, ast.ClassDef):
                own = visit(node.body, f"{prefix}{node.name}.")
                found[prefix + node.name] = "\n".join(ast.dump(n) for n in [*node.bases, *node.decorator_list, *own])
            else:
                rest.append(node)
        return rest

    found["module level"] = "\n".join(ast.dump(n) for n in visit(tree.body, ""))
    return found


def _touched(before: str, after: str) -> tuple[str, ...]:
    old, new = _definitions(before), _definitions(after)
    if old is None or new is None:
        return ()
    names = [name for name in new if old.get(name) != new[name]]
    labelled = [f"{name} (new)" if name not in old else name for name in names]
    return tuple(labelled + [f"{name} (removed)" for name in old if name not in new])


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in _flatten(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): tree}


def _spec_changes(before: dict, after: dict) -> tuple[str, ...]:
    old, new = _flatten(before), _flatten(after)
    keys = [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]
    return tuple(f"{k} {old.get(k, '—')}→{new.get(k, '—')}" for k in keys[:SPEC_CHANGES_SHOWN])


def summarise_edit(
    parent_code: str | None, parent_spec: dict | None, code: str, spec: dict | None, operator: str
) -> EditSummary:
    """The edit relative to the parent. Grammar candidates (both specs present and valid) are described by
    the motifs added and removed and the spec fields changed; line and definition changes are added
    whenever the parent's code is known (empty code means it is not, e.g. a reference parent)."""
    key = credit_key(operator)
    lines = _line_changes(parent_code, code) if parent_code else (0, 0)
    touched = _touched(parent_code, code) if parent_code else ()
    if parent_spec is not None and spec is not None:
        try:
            before, after = motifs_of(parse_spec(parent_spec)), motifs_of(parse_spec(spec))
        except ValidationError:
            before = after = None
        if before is not None:
            return EditSummary(
                operator,
                key,
                "motifs",
                tuple(m for m in after if m not in before),
                tuple(m for m in before if m not in after),
                _spec_changes(parent_spec, spec),
                *lines,
                touched,
            )
    if not parent_code:
        return EditSummary(operator, key, "none")
    return EditSummary(operator, key, "code", lines_added=lines[0], lines_removed=lines[1], touched=touched)
