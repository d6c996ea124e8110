"""Shared fixtures: the tiny stage, and a throwaway PostgreSQL server for the tests that need one."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from asiarch.config import StageConfig
from tests.helpers import tiny_run
from tests.postgres import as_postgres_user, postgres_binaries


@pytest.fixture
def tiny_stage() -> StageConfig:
    return StageConfig(seeds=1, reference_seeds=2, tasks={"mqar": tiny_run(lrs=(3e-3, 1e-2))})


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server in a temporary directory, on a Unix socket only; stopped and removed after the
    session. Not under pytest's tmp_path: that is private to root, and the server runs as 'postgres'."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL binaries not found (.ci/run installs them)")
    root = Path(tempfile.mkdtemp(prefix="asiarch-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = 55432 + os.getpid() % 1000
    subprocess.run(
        as_postgres_user([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "asiarch", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        as_postgres_user(
            [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    yield f"postgresql+psycopg://asiarch@/{{database}}?host={sockets}&port={port}"
    subprocess.run(
        as_postgres_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), check=False
    )
