"""A throwaway PostgreSQL server from the local binaries (Debian's package), for the tests that need one."""

import itertools
import os
import shutil
import time
from pathlib import Path


def postgres_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def as_postgres_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root; the Debian package provides a 'postgres' user for that."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


_databases = itertools.count()


def fresh_postgres_database(server_url: str) -> str:
    import psycopg

    name = f"store_test_{os.getpid()}_{next(_databases)}_{int(time.time() * 1000) % 100000}"
    admin = server_url.format(database="postgres").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.format(database=name)
