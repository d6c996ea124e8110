"""The library guard names what was rebound, and only that."""

import math

import torch
from torch.nn import functional as F

from asiarch.execute.library_guard import LibraryGuard, monkeypatch_message


def test_a_rebound_function_or_method_is_named_and_restoring_it_clears_the_record(monkeypatch):
    guard = LibraryGuard()
    assert guard.changed() == []
    monkeypatch.setattr(F, "cross_entropy", lambda *args, **kwargs: torch.zeros(()))
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, closure=None: None)
    monkeypatch.delattr(math, "sqrt")
    assert set(guard.changed()) == {
        "torch.nn.functional.cross_entropy", "torch.optim.adamw.AdamW.step", "math.sqrt"
    }  # fmt: skip
    monkeypatch.undo()
    assert guard.changed() == []


def test_new_module_names_and_torchs_own_rebindings_are_not_patches(monkeypatch):
    guard = LibraryGuard()
    monkeypatch.setattr(F, "a_new_helper", lambda: None, raising=False)
    compiled = torch.compile(torch.nn.Linear(2, 2))  # wraps nn.Module and optimizer methods in torch._dynamo code
    optimizer = torch.optim.AdamW(compiled.parameters())  # hooks a profiler into AdamW.step, once per class
    compiled(torch.randn(1, 2)).sum().backward()
    optimizer.step()
    assert guard.changed() == []


def test_the_message_names_at_most_three():
    message = monkeypatch_message(["a.b", "c.d", "e.f", "g.h"])
    assert message.startswith("sandbox: the code replaced a.b, c.d, e.f (monkeypatching)")
