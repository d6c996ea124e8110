"""The functions and classes a candidate must leave as they are, recorded before it loads and checked after.

A candidate runs in the same process as the trainer that measures it, so it could rebind the loss, the optimizer
step or the scorer and report whatever it likes. The worker records the bindings of ``GUARDED_MODULES`` before
the candidate loads and names every one that changed when the job ends (and at progress reports); the job then
fails with gate ``sandbox``. A patch undone between two checks goes unseen (docs/threat-model.md).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

TORCH_DIRECTORY = os.path.dirname(importlib.util.find_spec("torch").origin or "")
TORCH_WRAPPERS = (
    os.path.join(TORCH_DIRECTORY, "_dynamo") + os.sep,
    os.path.join(TORCH_DIRECTORY, "optim", "optimizer.py"),
)
"""Where torch defines the wrappers it rebinds library methods to in the middle of a job: torch.compile's (which
keep the compiler out of ``nn.Module`` and the optimizers, or watch for mutation), and the optimizers' profiling
hook on ``step``. Found without importing torch into the orchestrator."""
GUARDED_MODULES = ("torch.nn", "torch._tensor", "torch.optim", "torch.autograd", "torch.functional", "asiarch", "math",
                   "einops")  # fmt: skip
"""Modules (and their submodules) whose functions and classes a candidate must leave as they are: the loss, the
tensor and module methods, the optimizer, autograd and the harness. (Not all of torch: importing torch._dynamo
rebinds some of its top-level functions, legitimately, in the middle of a job.)"""


class LibraryGuard:
    """The functions and classes of ``GUARDED_MODULES``, and the methods of their classes, as bound when it is
    made; ``changed`` names those rebound since."""

    def __init__(self) -> None:
        self._record: dict[str, tuple[object, dict[str, object]]] = {}
        for name, module in list(sys.modules.items()):
            if module is None or not any(name == root or name.startswith(root + ".") for root in GUARDED_MODULES):
                continue
            bindings = _bindings(vars(module))
            self._record[name] = (module, bindings)
            for attribute, value in bindings.items():
                if isinstance(value, type) and value.__module__ == name:
                    self._record[f"{name}.{attribute}"] = (value, _bindings(vars(value)))

    def changed(self) -> list[str]:
        """Dotted names of the recorded bindings that now point elsewhere or are gone, and of callables added to a
        recorded class (an override that shadows an inherited method)."""
        found = []
        for owner_name, (owner, bindings) in self._record.items():
            now = vars(owner)
            found += [
                f"{owner_name}.{key}"
                for key, value in bindings.items()
                if now.get(key, _GONE) is not value and not _torch_rebinding(now.get(key))
            ]
            if isinstance(owner, type):
                added = _bindings(now).keys() - bindings.keys()
                found += [f"{owner_name}.{key}" for key in sorted(added) if not _torch_rebinding(now[key])]
        return found


_GONE = object()


def _torch_rebinding(new: object) -> bool:
    """Is the new binding one of torch's own wrappers (``TORCH_WRAPPERS``), not a candidate's doing?"""
    code = getattr(new, "__code__", None)
    return code is not None and os.path.realpath(code.co_filename).startswith(TORCH_WRAPPERS)


def _bindings(namespace: types.MappingProxyType | dict) -> dict[str, object]:
    """The callables of a namespace (types are looked at, not the values: some of torch's warn when touched)."""
    return {
        key: value
        for key, value in namespace.items()
        if (callable(value) or issubclass(type(value), (classmethod, staticmethod, property)))
        and not issubclass(type(value), types.ModuleType)
    }


def monkeypatch_message(changed: list[str]) -> str:
    return (f"sandbox: the code replaced {', '.join(changed[:3])} (monkeypatching); candidates may not change torch "
            "or asiarch")  # fmt: skip
