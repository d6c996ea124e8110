"""Where a campaign ran: what a reader needs to reproduce or discount its numbers."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import asiarch
from asiarch.bench.baselines import machine_profile

RECORDED_PACKAGES = ("asiarch", "torch", "numpy", "einops", "pydantic", "sqlalchemy")
GIT_TIMEOUT_S = 5


def git_commit(directory: Path) -> str | None:
    """The commit checked out in ``directory`` (with ``+dirty`` for local changes), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=GIT_TIMEOUT_S
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def campaign_provenance() -> dict[str, object]:
    """Package versions, the project's git commit (if it is a checkout), Python, torch, CPU and GPU."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "packages": versions,
        "git_commit": git_commit(Path(asiarch.__file__).resolve().parent),
        "machine": machine_profile(),
        "gpu": _gpu_model(),
        "recorded_at": datetime.now(timezone.utc).isoformat(),
    }


def _gpu_model() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
