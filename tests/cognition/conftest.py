"""One embedding cache per test session, so the shipped base is embedded once however many tests search it."""

import pytest

from asiarch.cognition.retrieval import CognitionIndex, open_index
from asiarch.config import Config


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("asiarch-cache")


@pytest.fixture(scope="session")
def base_index(cache_dir) -> CognitionIndex:
    return open_index(Config(cache_dir=cache_dir))
