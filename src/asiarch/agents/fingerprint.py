"""A structural fingerprint of Python source: what stays the same when a design is merely disguised.

Formatting, comments, docstrings, type annotations, import order and aliases, error messages,
keyword order, ``pass``, and the names of classes, functions, arguments, locals and ``self``
attributes are normalised away, so a renamed, reformatted or recommented copy has exactly the same
``exact`` fingerprint. Numbers, operators, calls and the data flow between values are kept, so a
changed hyper-parameter default or an added path is a different design. Partial overlap is the
Jaccard similarity of the multisets of normalised subtree hashes (every subtree of height ≥ 2).

Names are replaced by what defines them, not by the order they appear in: a parameter by its
position, any other name by the statement that first binds it, hashed with every name in it
blinded, plus a counter among names bound by identical statements (such as q/k/v projections).
Renaming therefore changes nothing, and inserting or moving a statement renames nothing else, so
the similarity of an edited design measures the edit rather than a cascade of renames. (Numbering
names by first appearance, the usual trick, made one inserted attribute drop the similarity of a
copy to about 0.6; this way it stays near 0.99.)
"""

from __future__ import annotations

import ast
import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

MIN_SUBTREE_HEIGHT = 2
"""Subtrees shorter than this (single names and constants) say nothing about a design."""
HASH_BYTES = 8
MESSAGE = "<message>"
"""What every error message and f-string becomes: wording is not design."""
BLIND = "_"
"""What every name defined in the file becomes while a binding statement is hashed to name a name."""
_DROPPED_FIELDS = frozenset({"ctx", "type_comment", "annotation", "returns", "type_params", "kind"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (*_FUNCTIONS, ast.ClassDef, ast.Lambda)
_TARGET_BINDERS = (
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.For,
    ast.AsyncFor,
    ast.withitem,
    ast.comprehension,
    ast.NamedExpr,
)


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=HASH_BYTES).digest(), "big")


@dataclass(frozen=True)
class Fingerprint:
    """``exact`` is equal for two codes that differ only in what normalisation removes; ``numbers``
    for two codes with the same numeric literals; ``subtrees`` holds one hash per occurrence of each
    normalised subtree, for a multiset Jaccard similarity."""

    exact: str
    numbers: str
    subtrees: frozenset[int]


def structure_similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Jaccard similarity of the subtree multisets, in [0, 1]; 1 for identical fingerprints."""
    if a.exact == b.exact:
        return 1.0
    shared = len(a.subtrees & b.subtrees)
    union = len(a.subtrees) + len(b.subtrees) - shared
    return shared / union if union else 0.0


def fingerprint(code: str) -> Fingerprint:
    """The structural fingerprint of a source file; code that does not parse (or nests too deeply to walk)
    is compared line by line."""
    try:
        tree = ast.parse(code)
        normaliser = _Normaliser(tree)
        root = normaliser.module(tree)
    except (SyntaxError, ValueError, RecursionError):
        return _line_fingerprint(code)
    numbers = _digest(*sorted(normaliser.numbers))
    return Fingerprint(format(root, "016x"), format(numbers, "016x"), _occurrences(normaliser.hashes))


def _occurrences(hashes: list[int]) -> frozenset[int]:
    """The k-th occurrence of a hash becomes its own element, so set Jaccard is multiset Jaccard."""
    seen: Counter[int] = Counter()
    elements = []
    for value in hashes:
        elements.append(_digest(value, seen[value]))
        seen[value] += 1
    return frozenset(elements)


def _line_fingerprint(code: str) -> Fingerprint:
    lines = [line.strip() for line in code.splitlines()]
    kept = [line for line in lines if line and not line.startswith("#")]
    exact = format(_digest("lines", *kept), "016x")
    return Fingerprint(exact, exact, _occurrences([_digest(line) for line in kept]))


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    """Parameters a call can name, in order."""
    args = node.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _all_parameters(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    args = node.args
    every = (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg)
    return [a.arg for a in every if a is not None]


def _method_parameters(cls: ast.ClassDef, names: tuple[str, ...]) -> list[str]:
    """Parameters of the first of ``names`` the class defines, without ``self``."""
    for name in names:
        for item in cls.body:
            if isinstance(item, _FUNCTIONS) and item.name == name:
                return _parameters(item)[1:]
    return []


def _walk_scope(body: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a scope's body without entering nested functions, classes or lambdas."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _receiver(method: ast.AST) -> str | None:
    """The name a method calls its instance (``self``), None for static methods."""
    if not isinstance(method, _FUNCTIONS) or not method.args.args:
        return None
    if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in method.decorator_list):
        return None
    return method.args.args[0].arg


def _is_attribute_of(node: ast.AST, receiver: str | None) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == receiver


def _flatten(target: ast.AST) -> list[ast.AST]:
    """The single targets of a binding target (``q, (k, *rest) = ...`` → q, k, rest)."""
    if isinstance(target, ast.Starred):
        return _flatten(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [single for element in target.elts for single in _flatten(element)]
    return [target]


def _targets(binder: ast.AST) -> list[ast.AST]:
    if isinstance(binder, ast.Assign):
        found = binder.targets
    elif isinstance(binder, ast.withitem):
        found = [binder.optional_vars] if binder.optional_vars is not None else []
    else:
        found = [binder.target]
    return [single for target in found for single in _flatten(target)]


def _position(binder: ast.AST) -> tuple[int, int]:
    anchor = binder.context_expr if isinstance(binder, ast.withitem) else binder
    anchor = anchor.target if isinstance(anchor, ast.comprehension) else anchor
    return anchor.lineno, anchor.col_offset


def _site_parts(binder: ast.AST) -> list[ast.AST]:
    """What identifies a binding: a loop by its target and iterable (not its body), a handler by its type."""
    if isinstance(binder, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [binder.target, binder.iter]
    if isinstance(binder, ast.ExceptHandler):
        return [binder.type] if binder.type is not None else []
    return [binder]


def _own_attributes(tree: ast.Module) -> tuple[set[str], set[str]]:
    """What methods call their instance (``self``), and the attribute names classes of this file define
    (assigned on the instance, or declared in the class body)."""
    receivers: set[str] = set()
    attributes: set[str] = set()
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        for item in cls.body:
            if isinstance(item, (*_FUNCTIONS, ast.ClassDef)):
                attributes.add(item.name)
            elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                attributes.update(t.id for t in _targets(item) if isinstance(t, ast.Name))
            receiver = _receiver(item)
            if receiver is not None:
                receivers.add(receiver)
                attributes.update(
                    node.attr
                    for node in ast.walk(item)
                    if _is_attribute_of(node, receiver) and not isinstance(node.ctx, ast.Load)
                )
    return receivers, attributes


class _Scope:
    """The names bound in one module, class, function or lambda and the statements binding them.
    A class's ``self.<name>`` attributes share its namespace. ``signatures`` and ``call_signatures``
    hold what calling a function or class defined here, or an instance of the class, takes, so
    keyword names can be renamed with the parameters."""

    def __init__(self, node: ast.AST, prefix: str) -> None:
        body = node.body if isinstance(node.body, list) else [node.body]
        self.is_class = isinstance(node, ast.ClassDef)
        self.prefix = prefix
        self.parameters = _all_parameters(node) if isinstance(node, (*_FUNCTIONS, ast.Lambda)) else []
        self.bound: set[str] = set(self.parameters)
        self.sites: dict[str, tuple[tuple[int, int], ast.AST, int, tuple[str, ...]]] = {}
        self.signatures: dict[str, list[str]] = {}
        self.call_signatures: dict[str, list[str]] = {}
        self.instances: dict[str, str] = {}
        self.names: dict[str, str] = {}
        outer: set[str] = set()
        for item in _walk_scope(body):
            if isinstance(item, _FUNCTIONS):
                is_method = self.is_class and _receiver(item) is not None
                self.signatures[item.name] = _parameters(item)[1:] if is_method else _parameters(item)
                self._site(item.name, item, 0)
            elif isinstance(item, ast.ClassDef):
                self.signatures[item.name] = _method_parameters(item, ("__init__",))
                self.call_signatures[item.name] = _method_parameters(item, ("forward", "__call__"))
                self._site(item.name, item, 0)
            elif isinstance(item, ast.ExceptHandler) and item.name:
                self._site(item.name, item, 0)
            elif isinstance(item, (ast.Global, ast.Nonlocal)):
                outer.update(item.names)
            elif isinstance(item, ast.Name) and not isinstance(item.ctx, ast.Load):
                self.bound.add(item.id)
            if isinstance(item, _TARGET_BINDERS):
                for index, target in enumerate(_targets(item)):
                    if isinstance(target, ast.Name):
                        self._site(target.id, item, index, tuple(self.parameters))
        self.bound = (self.bound | set(self.sites)) - outer
        self.attributes = set(self.bound)
        if self.is_class:
            self._instance_attributes(body)

    def _site(self, name: str, binder: ast.AST, index: int, parameters: tuple[str, ...] = ()) -> None:
        """Keep the first binding of ``name`` in source order, with the parameters of the function it is in."""
        position = _position(binder)
        if name not in self.sites or position < self.sites[name][0]:
            self.sites[name] = (position, binder, index, parameters)

    def _instance_attributes(self, body: list[ast.stmt]) -> None:
        """Attributes assigned on the instance in any method, and which hold an instance of a class called
        by name (``self.gate = Gate(...)``: calling ``self.gate`` takes ``Gate.forward``'s parameters)."""
        for method in body:
            receiver = _receiver(method)
            parameters = tuple(_all_parameters(method)) if receiver else ()
            for item in ast.walk(method) if receiver else ():
                if not isinstance(item, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    continue
                for index, target in enumerate(_targets(item)):
                    if _is_attribute_of(target, receiver):
                        self.attributes.add(target.attr)
                        self._site(target.attr, item, index, parameters)
                        value = item.value
                        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                            self.instances[target.attr] = value.func.id

    def rename(self, name: str) -> str:
        """The canonical name (set by ``_Normaliser.name_scope``); an unsited name is numbered on first use."""
        if name.startswith("__") and name.endswith("__"):
            return name
        return self.names.setdefault(name, f"{self.prefix}?{len(self.names)}")


class _Normaliser:
    """Hashes a syntax tree bottom-up (a Merkle tree) with the normalisations the module docstring lists.
    Every subtree of height ≥ ``MIN_SUBTREE_HEIGHT`` appends its hash to ``hashes``; every numeric
    literal goes to ``numbers``. In blind mode (hashing a binding statement) nothing is recorded."""

    def __init__(self, tree: ast.Module) -> None:
        self.hashes: list[int] = []
        self.numbers: list[str] = []
        self.aliases = self._import_aliases(tree)
        self.receiver_names, self.defined_attributes = _own_attributes(tree)
        self.scopes: list[_Scope] = []
        self.receivers: list[tuple[str, _Scope] | None] = [None]
        self.in_message = False
        self.blind = False
        self.blind_parameters: tuple[str, ...] = ()
        self.blind_hashes: dict[tuple[int, bool, tuple[str, ...]], tuple[int, int]] = {}

    @staticmethod
    def _import_aliases(tree: ast.Module) -> dict[str, str]:
        """Imported names → full dotted paths, so ``F.pad`` and ``torch.nn.functional.pad`` agree."""
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        aliases[root] = root
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        return aliases

    def _emit(self, height: int, *parts: object) -> tuple[int, int]:
        value = _digest(*parts)
        if height >= MIN_SUBTREE_HEIGHT and not self.blind:
            self.hashes.append(value)
        return value, height

    def _combine(self, label: str, *children: tuple[int, int]) -> tuple[int, int]:
        return self._emit(1 + max((h for _, h in children), default=0), label, *(c for c, _ in children))

    # scopes and names

    def _push(self, node: ast.AST, prefix: str) -> None:
        """Enter a scope and name its names; blind hashing resolves no names, so it reuses the current one."""
        if self.blind:
            self.scopes.append(self.scopes[-1])
            return
        scope = _Scope(node, prefix)
        self.scopes.append(scope)
        self.name_scope(scope)

    def name_scope(self, scope: _Scope) -> None:
        """Parameters by position; every other name by its first binding statement, hashed blind, and the
        target's place in it; a counter separates names bound by identical statements."""
        for index, name in enumerate(scope.parameters):
            scope.names[name] = f"{scope.prefix}p{index}"
        ties: Counter[int] = Counter()
        for name, (_, binder, index, parameters) in sorted(
            scope.sites.items(), key=lambda item: item[1][:1] + item[1][2:3]
        ):
            if name in scope.names:
                continue
            parts = (self._blind_hash(part, parameters) for part in _site_parts(binder))
            key = _digest(type(binder).__name__, index, *parts)
            scope.names[name] = f"{scope.prefix}{key}.{ties[key]}"
            ties[key] += 1

    def _blind_hash(self, node: ast.AST, parameters: tuple[str, ...]) -> int:
        """The hash of ``node`` with every name blinded except the parameters of its function, which keep
        their positions (``self.eps = eps`` and ``self.size = size`` must not look alike)."""
        was = self.blind, self.blind_parameters
        self.blind, self.blind_parameters = True, parameters
        try:
            return self.visit(node)[0]
        finally:
            self.blind, self.blind_parameters = was

    def _binding(self, name: str) -> _Scope | None:
        """The scope a name is bound in (class scopes are seen only from their own body, as in Python)."""
        for depth, scope in enumerate(reversed(self.scopes)):
            if scope.is_class and depth > 0:
                continue
            if name in scope.bound:
                return scope
        return None

    def _external(self, node: ast.AST) -> str | None:
        """The dotted path of a module-level import expression (``F.pad`` → ``torch.nn.functional.pad``)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id) if self.blind or self._binding(node.id) is None else None
        if isinstance(node, ast.Attribute):
            base = self._external(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _own_attribute(self, node: ast.AST) -> _Scope | None:
        """The class whose instance attribute ``node`` is (``self.q_proj`` inside a method), if it is one."""
        receiver = self.receivers[-1]
        if receiver is not None and _is_attribute_of(node, receiver[0]) and node.attr in receiver[1].attributes:
            return receiver[1]
        return None

    def _signature(self, func: ast.AST) -> list[str] | None:
        """Parameter names of a callee defined in this file, so keyword names can be renamed with it."""
        if isinstance(func, ast.Name):
            scope = self._binding(func.id)
            return scope.signatures.get(func.id) if scope else None
        owner = self._own_attribute(func)
        if owner is None or not isinstance(func, ast.Attribute):
            return None
        if func.attr in owner.instances:
            cls = owner.instances[func.attr]
            scope = self._binding(cls)
            return scope.call_signatures.get(cls) if scope else None
        return owner.signatures.get(func.attr)

    # statements

    def module(self, tree: ast.Module) -> int:
        self._push(tree, "m")
        body = self._body(tree.body)
        self.scopes.pop()
        return self._combine("Module", body)[0]

    def _body(self, statements: list[ast.stmt]) -> tuple[int, int]:
        children = [self.visit(s) for s in statements if not self._is_noise(s)]
        return _digest("body", *(h for h, _ in children)), 1 + max((h for _, h in children), default=0)

    @staticmethod
    def _is_noise(statement: ast.stmt) -> bool:
        """Docstrings, bare strings, ``pass`` and imports (resolved at every use instead)."""
        if isinstance(statement, (ast.Pass, ast.Import, ast.ImportFrom)):
            return True
        return (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        )

    def visit(self, node: ast.AST) -> tuple[int, int]:
        """A node's hash and height. Blind hashes depend on the node alone, so each is computed once:
        a class hashed blind to name it has hashed every binding statement inside it too."""
        key = (id(node), self.in_message, self.blind_parameters)
        if self.blind and key in self.blind_hashes:
            return self.blind_hashes[key]
        handler = getattr(self, f"_visit_{type(node).__name__}", None)
        result = handler(node) if handler else self._generic(node)
        if self.blind:
            self.blind_hashes[key] = result
        return result

    def _generic(self, node: ast.AST) -> tuple[int, int]:
        parts: list[object] = [type(node).__name__]
        height = 0
        for field, value in ast.iter_fields(node):
            if field in _DROPPED_FIELDS:
                continue
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                value = self._body(value)
            elif isinstance(value, list):
                value = [self.visit(item) if isinstance(item, ast.AST) else (repr(item), 0) for item in value]
                value = (tuple(h for h, _ in value), max((h for _, h in value), default=0))
            elif isinstance(value, ast.AST):
                value = self.visit(value)
            else:
                value = (repr(value), 0)
            parts.append((field, value[0]))
            height = max(height, value[1])
        return self._emit(height + 1, *parts)

    def _visit_AnnAssign(self, node: ast.AnnAssign) -> tuple[int, int]:
        if node.value is None:
            return self._combine("Declare", self.visit(node.target))
        return self._combine("Assign", self._combine("targets", self.visit(node.target)), self.visit(node.value))

    def _visit_Raise(self, node: ast.Raise) -> tuple[int, int]:
        was, self.in_message = self.in_message, True
        try:
            return self._generic(node)
        finally:
            self.in_message = was

    def _visit_Assert(self, node: ast.Assert) -> tuple[int, int]:
        return self._combine("Assert", self.visit(node.test))

    def _visit_ExceptHandler(self, node: ast.ExceptHandler) -> tuple[int, int]:
        kind = self.visit(node.type) if node.type is not None else (_digest(None), 1)
        name = self._visit_Name(ast.Name(node.name)) if node.name else (_digest(None), 1)
        return self._combine("ExceptHandler", kind, name, self._body(node.body))

    def _visit_JoinedStr(self, node: ast.JoinedStr) -> tuple[int, int]:
        return _digest(MESSAGE), 1

    def _visit_Constant(self, node: ast.Constant) -> tuple[int, int]:
        value = node.value
        if isinstance(value, str) and self.in_message:
            return _digest(MESSAGE), 1
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                pass
            if not self.blind:
                self.numbers.append(repr(value))
        return _digest("Constant", type(value).__name__, repr(value)), 1

    # definitions

    def _define(self, name: str) -> str:
        return BLIND if self.blind else self.scopes[-1].rename(name)

    @staticmethod
    def _arguments(args: ast.arguments) -> tuple[int, int]:
        """Parameter names are positions, so only the shape of the signature remains."""
        shape = (len(args.posonlyargs) + len(args.args), args.vararg is None, len(args.kwonlyargs), args.kwarg is None)
        return _digest("arguments", *shape), 1

    def _defaults(self, args: ast.arguments) -> list[tuple[int, int]]:
        defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        return [self.visit(d) for d in defaults]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int]:
        name = self._define(node.name)
        outside = [*(self.visit(d) for d in node.decorator_list), *self._defaults(node.args)]
        owner = self.scopes[-1]
        receiver = _receiver(node)
        self._push(node, f"f{len(self.scopes)}")
        self.receivers.append((receiver, owner) if owner.is_class and receiver else self.receivers[-1])
        outer, self.blind_parameters = self.blind_parameters, tuple(_all_parameters(node))
        body = self._body(node.body)
        self.blind_parameters = outer
        self.receivers.pop()
        self.scopes.pop()
        return self._combine(f"{type(node).__name__} {name}", *outside, self._arguments(node.args), body)

    _visit_FunctionDef = _function
    _visit_AsyncFunctionDef = _function

    def _visit_Lambda(self, node: ast.Lambda) -> tuple[int, int]:
        outside = self._defaults(node.args)
        self._push(node, f"f{len(self.scopes)}")
        outer, self.blind_parameters = self.blind_parameters, tuple(_all_parameters(node))
        body = self.visit(node.body)
        self.blind_parameters = outer
        self.scopes.pop()
        return self._combine("Lambda", *outside, self._arguments(node.args), body)

    def _visit_ClassDef(self, node: ast.ClassDef) -> tuple[int, int]:
        name = self._define(node.name)
        outside = [self.visit(n) for n in (*node.decorator_list, *node.bases)]
        outside += [self._keyword(k, None, external=True) for k in node.keywords]
        self._push(node, f"c{len(self.scopes)}")
        body = self._body(node.body)
        self.scopes.pop()
        return self._combine(f"ClassDef {name}", *outside, body)

    # references

    def _visit_Name(self, node: ast.Name) -> tuple[int, int]:
        if self.blind and node.id in self.blind_parameters:
            return _digest("Name", f"p{self.blind_parameters.index(node.id)}"), 1
        scope = None if self.blind else self._binding(node.id)
        if scope is not None:
            return _digest("Name", scope.rename(node.id)), 1
        if node.id in self.aliases:
            return _digest("External", self.aliases[node.id]), 1
        return _digest("Name", BLIND if self.blind else node.id), 1

    def _visit_Attribute(self, node: ast.Attribute) -> tuple[int, int]:
        external = self._external(node)
        if external is not None:
            return _digest("External", external), 1
        if (
            self.blind
            and isinstance(node.value, ast.Name)
            and node.value.id in self.receiver_names
            and node.attr in self.defined_attributes
        ):
            return _digest("Own", BLIND), 1
        owner = None if self.blind else self._own_attribute(node)
        if owner is not None:
            return _digest("Own", owner.rename(node.attr)), 1
        return self._combine(f"Attribute {node.attr}", self.visit(node.value))

    def _keyword(self, keyword: ast.keyword, signature: list[str] | None, external: bool) -> tuple[int, int]:
        name = keyword.arg
        if name is not None and signature is not None and name in signature:
            name = f"parameter {signature.index(name)}"
        elif name is not None and self.blind and not external:
            name = BLIND
        return self._combine(f"keyword {name}", self.visit(keyword.value))

    def _visit_Call(self, node: ast.Call) -> tuple[int, int]:
        function = self.visit(node.func)
        args = [self.visit(a) for a in node.args]
        signature = None if self.blind else self._signature(node.func)
        external = self._external(node.func) is not None
        keywords = sorted(self._keyword(k, signature, external) for k in node.keywords)
        height = 1 + max(h for _, h in (function, *args, *keywords))
        return self._emit(height, "Call", function[0], tuple(a for a, _ in args), tuple(k for k, _ in keywords))
