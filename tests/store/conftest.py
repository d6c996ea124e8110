"""Store fixtures: every store test runs on an SQLite file and on a real, throwaway PostgreSQL server."""

import pytest

from asiarch.store.db import open_store
from tests.postgres import fresh_postgres_database


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
