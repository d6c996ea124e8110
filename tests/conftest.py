"""Shared fixtures."""

import pytest

from asiarch.config import StageConfig
from tests.helpers import tiny_run


@pytest.fixture
def tiny_stage() -> StageConfig:
    return StageConfig(seeds=1, reference_seeds=2, tasks={"mqar": tiny_run(lrs=(3e-3, 1e-2))})
