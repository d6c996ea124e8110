"""The outcome of one gate, shared by the static, behavioural and cost gates."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """Gate name, pass/fail, a one-line reason a person or an LLM can act on, and the figures measured."""

    gate: str
    passed: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    """The tail of a traceback when the layer raised: what a repairer needs beyond the reason."""
