"""Job runners for the Ray executor tests; module-level so that Ray can ship them to its workers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any


def where_am_i(job: Any, threads: int, progress: Callable[[int, float], None]) -> dict:
    """Which devices Ray granted the task (it sets CUDA_VISIBLE_DEVICES for GPU tasks) and the process."""
    return {"job": job, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(), "ppid": os.getppid()}


def sleeps(job: Any, threads: int, progress: Callable[[int, float], None]) -> dict:
    time.sleep(float(job))
    return {"slept": float(job)}
