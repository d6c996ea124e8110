"""Load one candidate file in isolation and build layers from it that obey the Mixer contract.

Isolation: every load compiles the source text afresh into a new module object with a unique name
(``asiarch_candidate_<sha256 prefix>_<counter>``), so two files that both define ``Mixer`` give two
classes, and a file edited and loaded again gives the new code. The module is in ``sys.modules``
only while its body runs (``dataclasses`` looks a class's module up there while it is defined, and
almost every ASI-Arch file uses ``from __future__ import annotations``) and is removed afterwards,
so nothing accumulates over a campaign. Classes from a candidate therefore cannot be pickled by
reference; move a candidate between processes as source text, and its weights as a state dict.

What the candidate imports is decided per module, not per process. Its globals get their own
``__builtins__`` whose ``__import__`` (a) serves the ``fla`` names from ``asiarch.arch.fla_compat``
and (b) hands out a ``torch`` stand-in whose ``compile`` returns its argument unchanged. Functions
defined in the file keep those builtins for life, so an import inside ``__init__`` or ``forward``
(some ASI-Arch files import fla lazily) is served the same way at build or call time, while the
process's real ``torch.compile``, ``sys.modules`` and ``sys.meta_path`` are never touched: other code,
other threads and other candidates see nothing. A meta-path finder was the alternative; it is
process-global, so a fake ``fla`` would be visible to everything while installed, and removing it
after the load would break the lazy imports.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import inspect
import itertools
import linecache
import pathlib
import sys
import types
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import nn

from asiarch.arch.contract import (
    ALLOWED_IMPORT_ROOTS,
    ASI_ARCH_CLASS,
    CONTRACT_CLASS,
    FLA_IMPORT_ROOTS,
    split_output,
)
from asiarch.arch.fla_compat import SERVED_MODULES
from asiarch.execute.sandbox import CANDIDATE_MODULE_PREFIX

FlaBackend = Literal["auto", "shim", "real"]

_load_counter = itertools.count()
BF16_MARKER = "bfloat16"
"""Source text that marks an ASI-Arch layer as written for bf16: it then runs under bf16 autocast."""
_CHAT_FENCES = {"python", "```python", "```py", "```"}


class CandidateError(Exception):
    """A candidate failed to load or build; ``str(error)`` is one line naming the file and the fix.

    ``kind`` is one of ``source``, ``syntax``, ``import``, ``execution``, ``missing_class``,
    ``constructor``: the failure reason the Engineer records and feeds back for repair. It pickles
    by its parts, so it survives the trip back from a sandbox subprocess.
    """

    def __init__(self, kind: str, location: str, problem: str, fix: str) -> None:
        self.kind = kind
        self.location = location
        self.problem = problem
        self.fix = fix
        super().__init__(" ".join(f"{location}: {problem}. Fix: {fix}".split()))

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str]]:
        return type(self), (self.kind, self.location, self.problem, self.fix)


class AsiArchAdapter(nn.Module):
    """Runs an ASI-Arch ``DeltaNet`` layer as a Mixer: (B, T, D) → (B, T, D).

    The layer is called as ``layer(hidden_states=x)`` with no mask and no cache; of its
    ``(o, attentions, cache)`` result only ``o`` is kept (see ``contract.split_output``). The layer
    is a registered submodule, so its parameters are trained and counted.

    ASI-Arch layers were written for bf16 training on GPUs and many cast tensors to
    ``torch.bfloat16`` by hand (39 of the 106 published ones, the seed DeltaNet among them), which
    fails against float32 weights. Such layers run under CPU bf16 autocast, as they did in their
    home setting; the output is cast back to the input's dtype.
    """

    def __init__(self, layer: nn.Module, bf16_autocast: bool = False) -> None:
        super().__init__()
        self.layer = layer
        self.bf16_autocast = bf16_autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.bf16_autocast:
            return split_output(self.layer(hidden_states=x))[0]
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            y = split_output(self.layer(hidden_states=x))[0]
        return y.to(x.dtype)


@dataclass(frozen=True)
class CandidateSpec:
    """A loaded candidate: its layer class, where it came from, and a contract-obeying builder."""

    path: str
    sha256: str
    kind: Literal["mixer", "asi_arch"]
    cls: type[nn.Module]
    module: types.ModuleType
    casts_to_bf16: bool = False

    def build(self, d_model: int, num_heads: int, **kwargs: Any) -> nn.Module:
        """Instantiate the layer at this width; an ASI-Arch ``DeltaNet`` comes wrapped in an adapter."""
        call = _constructor_call(self.kind, d_model, num_heads, kwargs)
        try:
            layer = self.cls(**call)
        except Exception as error:
            raise CandidateError(
                "constructor",
                _location(self.path, error),
                f"{self.cls.__name__}({_format_call(call)}) raised {type(error).__name__}: {error}",
                "make the constructor work for any d_model divisible by num_heads, "
                "with defaults for every extra argument",
            ) from error
        return AsiArchAdapter(layer, self.casts_to_bf16) if self.kind == "asi_arch" else layer


def load_candidate(
    source: str | pathlib.Path,
    *,
    filename: str | None = None,
    allow_compile: bool = False,
    fla_backend: FlaBackend = "auto",
) -> CandidateSpec:
    """Import a candidate in isolation and find its ``Mixer`` (preferred) or ASI-Arch ``DeltaNet``.

    ``source`` is a path (a ``pathlib.Path``, or a ``str`` without a newline) or the source text
    itself (a ``str`` with newlines; ``filename`` then names it in errors and tracebacks).
    ``allow_compile=False`` makes ``torch.compile`` an identity inside the candidate: on CPU it
    costs ~25 s of compilation for a few per cent of speed, and a CPU screen runs minutes.
    ``fla_backend`` chooses what ``import fla...`` gets: ``"shim"`` the CPU stand-ins, ``"real"``
    the installed package, ``"auto"`` the real one only when it is installed and CUDA is available.
    Raises :class:`CandidateError` with a one-line message on any failure.
    """
    text, path = _read_source(source, filename)
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    module_name = f"{CANDIDATE_MODULE_PREFIX}{sha256[:12]}_{next(_load_counter)}"
    runnable = _blank_chat_fences(text)
    try:
        code = compile(runnable, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f"{path}:{line}" if line else path
        message = getattr(error, "msg", None) or str(error)
        raise CandidateError("syntax", where, f"syntax error: {message}", "correct the code at that line") from error

    linecache.cache[path] = (len(runnable), None, runnable.splitlines(keepends=True), path)
    module = types.ModuleType(module_name)
    module.__file__ = path
    module.__dict__["__builtins__"] = _candidate_builtins(_serve_fla(fla_backend), allow_compile)
    _execute(code, module, path)
    return replace(_spec_from_module(module, path, sha256), casts_to_bf16=BF16_MARKER in text)


def _read_source(source: str | pathlib.Path, filename: str | None) -> tuple[str, str]:
    """Return (text, name used in messages)."""
    if isinstance(source, str) and "\n" in source:
        return source, filename or "<candidate>"
    path = pathlib.Path(source)
    try:
        return path.read_text(encoding="utf-8"), filename or str(path)
    except (OSError, UnicodeDecodeError) as error:
        raise CandidateError(
            "source",
            str(path),
            f"cannot read the candidate file ({error})",
            "pass an existing UTF-8 .py file or the source text",
        ) from error


def _blank_chat_fences(text: str) -> str:
    """Blank a leading ``python``/```` ```python ```` line and a closing ```` ``` ````, keeping line numbers.

    Sources pasted from chat output carry them; ASI-Arch's own seed record begins with a bare
    ``python`` line, which would otherwise fail as an undefined name.
    """
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if filled and lines[filled[0]].strip() in _CHAT_FENCES:
        lines[filled[0]] = ""
        filled = filled[1:]
    if filled and lines[filled[-1]].strip() == "```":
        lines[filled[-1]] = ""
    return "\n".join(lines)


def _serve_fla(fla_backend: FlaBackend) -> bool:
    if fla_backend == "auto":
        return importlib.util.find_spec("fla") is None or not torch.cuda.is_available()
    return fla_backend == "shim"


def _no_compile(model: Any = None, **options: Any) -> Any:
    """``torch.compile`` as an identity, as ``@torch.compile``, ``@torch.compile(...)`` or ``torch.compile(f)``."""
    if model is None:
        return lambda fn: fn
    return model


class _TorchWithoutCompile(types.ModuleType):
    """What a candidate gets for ``torch``: the real module's attributes, except ``compile``.

    Because the candidate's global name ``torch`` is this object, the decorator applied at
    definition time and any ``torch.compile(...)`` call made later in ``__init__`` or ``forward``
    all return their argument unchanged. Limits: paths to the compiler that do not go through the
    name ``torch.compile`` still compile (``nn.Module.compile()``, ``torch._dynamo.optimize``, a
    helper from another module that compiles internally); the import allow-list gate owns those.
    """

    def __init__(self) -> None:
        super().__init__("torch", torch.__doc__)
        self.compile = _no_compile

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


def _candidate_builtins(serve_fla: bool, allow_compile: bool) -> dict[str, Any]:
    """A private copy of the builtins whose ``__import__`` applies this candidate's import policy."""
    real_import = builtins.__import__
    torch_stand_in = None if allow_compile else _TorchWithoutCompile()

    def candidate_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> types.ModuleType:
        if serve_fla and level == 0 and (name == "fla" or name.startswith("fla.")):
            return _import_fla(name, fromlist)
        module = real_import(name, globals, locals, fromlist, level)
        return torch_stand_in if torch_stand_in is not None and module is torch else module

    return {**builtins.__dict__, "__import__": candidate_import}


def _import_fla(name: str, fromlist: Any) -> types.ModuleType:
    """Resolve an ``fla`` import against the CPU stand-ins, with the semantics of ``__import__``."""
    if name not in SERVED_MODULES:
        raise ModuleNotFoundError(
            f"{name} has no CPU stand-in (served: {', '.join(sorted(FLA_IMPORT_ROOTS))})", name=name
        )
    module = importlib.import_module(SERVED_MODULES[name])
    if not fromlist:
        return importlib.import_module(SERVED_MODULES["fla"])
    for attribute in fromlist:
        submodule = f"{name}.{attribute}"
        if submodule in SERVED_MODULES:
            importlib.import_module(SERVED_MODULES[submodule])
        elif attribute != "*" and not hasattr(module, attribute):
            offered = ", ".join(getattr(module, "__all__", ())) or "only its served submodules"
            raise ImportError(f"cannot import name {attribute!r} from {name!r} on CPU (it offers {offered})")
    return module


def _execute(code: types.CodeType, module: types.ModuleType, path: str) -> None:
    """Run the module body; map its failures to one-line CandidateErrors."""
    sys.modules[module.__name__] = module
    try:
        exec(code, module.__dict__)
    except ImportError as error:
        allowed = ", ".join(sorted(ALLOWED_IMPORT_ROOTS - {"__future__"}))
        raise CandidateError(
            "import",
            _location(path, error),
            f"import failed: {error}",
            f"import only {allowed} (ASI-Arch files also fla.modules, fla.modules.l2norm, fla.layers.utils)",
        ) from error
    except Exception as error:
        raise CandidateError(
            "execution",
            _location(path, error),
            f"running the module body raised {type(error).__name__}: {error}",
            "module-level code should only import and define; fix the statement at that line",
        ) from error
    finally:
        sys.modules.pop(module.__name__, None)


def _spec_from_module(module: types.ModuleType, path: str, sha256: str) -> CandidateSpec:
    for class_name, kind in ((CONTRACT_CLASS, "mixer"), (ASI_ARCH_CLASS, "asi_arch")):
        cls = module.__dict__.get(class_name)
        if cls is None:
            continue
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise CandidateError(
                "missing_class",
                path,
                f"{class_name} is not a torch.nn.Module subclass",
                f"declare class {class_name}(nn.Module)",
            )
        _check_constructor(cls, kind, path)
        return CandidateSpec(path=path, sha256=sha256, kind=kind, cls=cls, module=module)
    raise CandidateError(
        "missing_class",
        path,
        f"defines neither {CONTRACT_CLASS} nor {ASI_ARCH_CLASS}",
        f"define class {CONTRACT_CLASS}(nn.Module) with __init__(self, d_model, num_heads, **kwargs) "
        "and forward(self, x)",
    )


def _check_constructor(cls: type, kind: str, path: str) -> None:
    """Fail at load, not mid-training, when the constructor cannot take the contract's arguments."""
    call = _constructor_call(kind, 64, 4, {})
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**call)
    except TypeError as error:
        shown = f"{cls.__name__}{signature}"
        needed = "d_model, num_heads" if kind == "mixer" else "hidden_size, num_heads"
        raise CandidateError(
            "constructor",
            path,
            f"constructor signature incompatible: {shown} cannot be called as "
            f"{cls.__name__}({_format_call(call)}) ({error})",
            f"accept {needed} as keyword arguments and give every other parameter a default",
        ) from error


def _constructor_call(kind: str, d_model: int, num_heads: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    width = {"d_model": d_model} if kind == "mixer" else {"hidden_size": d_model}
    return {**width, "num_heads": num_heads, **kwargs}


def _format_call(call: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in call.items())


def _location(path: str, error: BaseException) -> str:
    """``path:line`` of the innermost traceback frame inside the candidate file, else ``path``."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == path:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return f"{path}:{line}" if line else path
