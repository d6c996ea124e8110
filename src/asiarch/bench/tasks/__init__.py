"""The evaluation tasks: a registry by name and a validating constructor.

Importing this package registers every task but loads no data (the byte-LM corpus is read on
first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from asiarch.bench.tasks.base import IGNORE_INDEX, Batch, Task, TaskParams
from asiarch.bench.tasks.byte_lm import ByteLM
from asiarch.bench.tasks.fuzzy_recall import FuzzyRecall
from asiarch.bench.tasks.memorization import Memorization
from asiarch.bench.tasks.mqar import MQAR
from asiarch.bench.tasks.noisy_recall import NoisyRecall
from asiarch.bench.tasks.selective_copy import SelectiveCopy

TASKS: dict[str, type[Task]] = {
    task.name: task for task in (MQAR, SelectiveCopy, NoisyRecall, FuzzyRecall, Memorization, ByteLM)
}
"""Every task class by its registry name."""

__all__ = ["IGNORE_INDEX", "TASKS", "Batch", "Task", "TaskParams", "make_task"]


def make_task(name: str, params: Mapping[str, Any] | None = None) -> Task:
    """Build task ``name`` from a plain mapping of parameters (e.g. a YAML config section).

    Raises ``ValueError`` with a one-line message naming the task, the offending key or
    value, and the allowed keys, so a typo in a config is reported where it was made.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    task = TASKS[name]
    try:
        validated = task.Params.model_validate(dict(params or {}))
    except pydantic.ValidationError as error:
        allowed = ", ".join(task.Params.model_fields)
        raise ValueError(f"task {name!r}: {_describe(error)}; allowed keys: {allowed}") from None
    return task(validated)


def _describe(error: pydantic.ValidationError) -> str:
    """One line naming each bad key and value from a pydantic error."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        elif key:
            message = item["msg"]
            problems.append(f"bad value {item['input']!r} for {key!r} ({message})")
        else:
            problems.append(item["msg"].removeprefix("Value error, "))
    return "; ".join(problem.replace("\n", " ") for problem in problems)
