"""A per-machine cache of the reference architectures' results at each stage.

References define 'normal' for the Analyst, and they cost as much to train as any candidate,
so they are computed once per machine profile and harness version. The key covers everything
that can move a number: CPU model and core count, torch and Python versions, the stage's
configuration, and the source of every module on the training path. Change any of them and
the cached numbers are ignored rather than silently compared with new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import torch

import asiarch
from asiarch.bench.trainer import RunResult
from asiarch.config import StageConfig

HARNESS_PACKAGES = ("ops", "arch/backbone.py", "arch/zoo", "bench")
CACHE_FORMAT = 3
"""2: runs carry validation results and stages their own seeds; 3: references try every learning rate on every seed.
An older file is a miss."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_profile() -> dict[str, str]:
    """What about this machine can change a measured number or its timing."""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def harness_fingerprint(stage: StageConfig, threads: int) -> str:
    """Hash of the stage config, the thread count and the training-path source files. The config is hashed with
    sorted keys: the same stage written in another order (a YAML file, a Python dict) is the same stage."""
    root = Path(asiarch.__file__).parent
    files: list[Path] = []
    for entry in HARNESS_PACKAGES:
        path = root / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    parts = [json.dumps(stage.model_dump(mode="json"), sort_keys=True).encode(), str(threads).encode()]
    parts += [f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() for f in files]
    return _digest(parts)


class BaselineCache:
    """JSON files under ``cache_dir/baselines/<profile>/<stage>-<harness>.json``, written atomically."""

    def __init__(self, cache_dir: Path) -> None:
        profile = machine_profile()
        self.profile = profile
        self.directory = Path(cache_dir) / "baselines" / _digest([json.dumps(profile, sort_keys=True).encode()])

    def path(self, stage_name: str, stage: StageConfig, threads: int) -> Path:
        return self.directory / f"{stage_name}-{harness_fingerprint(stage, threads)}.json"

    def load(self, stage_name: str, stage: StageConfig, threads: int) -> dict[str, list[tuple[str, RunResult]]]:
        """Cached results per reference name; empty when absent, stale or unreadable."""
        path = self.path(stage_name, stage, threads)
        try:
            data = json.loads(path.read_text())
            if data.get("format") != CACHE_FORMAT:
                return {}
            return {
                name: [(label, RunResult(**result)) for label, result in rows]
                for name, rows in data["references"].items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            print(f"warning: ignoring unreadable baseline cache {path} ({exc}); it will be recomputed", file=sys.stderr)
            return {}

    def save(
        self, stage_name: str, stage: StageConfig, threads: int, results: dict[str, list[tuple[str, RunResult]]]
    ) -> Path:
        path = self.path(stage_name, stage, threads)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CACHE_FORMAT,
            "profile": self.profile,
            "stage": stage_name,
            "references": {name: [(label, r.to_dict()) for label, r in rows] for name, rows in results.items()},
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # orchestrators sharing a machine may save at once
        try:
            tmp.write_text(json.dumps(payload))
            tmp.replace(path)
        except OSError as exc:  # a full disk: the old file stays whole, and no half-written one is left beside it
            tmp.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        return path
