"""What every configuration section shares: unknown keys are errors, assignments are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A configuration problem, reported to the user as one line naming the key and the fix."""


class Strict(BaseModel):
    """A section that refuses unknown keys: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
