"""A writer process for the concurrency test (module level, so spawned processes can import it)."""

from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, get_or_create_campaign


def insert_experiments(location: str, writer: int, count: int) -> int:
    store = open_store(location)
    try:
        for index in range(count):
            with store.session() as session:
                campaign = get_or_create_campaign(session, "concurrent")
                add_experiment(session, campaign, f"w{writer}-{index}", f"# writer {writer} item {index}\n")
    finally:
        store.close()
    return count
