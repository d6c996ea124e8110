"""Store fixtures: every store test runs on an SQLite file and on a real, throwaway PostgreSQL server."""

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from asiarch.store.db import open_store


def _postgres_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root; the Debian package provides a 'postgres' user for that."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server in a temporary directory, on a Unix socket only; stopped and removed after the
    session. Not under pytest's tmp_path: that is private to root, and the server runs as 'postgres'."""
    binaries = _postgres_binaries()
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
        _as_postgres_user([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "asiarch", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    yield f"postgresql+psycopg://asiarch@/{{database}}?host={sockets}&port={port}"
    subprocess.run(
        _as_postgres_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), check=False
    )


_databases = itertools.count()


def fresh_postgres_database(server_url: str) -> str:
    import psycopg

    name = f"store_test_{os.getpid()}_{next(_databases)}_{int(time.time() * 1000) % 100000}"
    admin = server_url.format(database="postgres").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.format(database=name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store_location(request, tmp_path):
    """Where a fresh, empty store lives: an SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(store_location):
    opened = open_store(store_location)
    yield opened
    opened.close()
