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


def insert_until_killed(location: str) -> None:
    """Write experiments (each with a lineage edge and an evaluation) in a loop until SIGKILL arrives."""
    from asiarch.store.schema import Evaluation

    store = open_store(location)
    root = None
    index = 0
    while True:
        with store.session() as session:
            campaign = get_or_create_campaign(session, "killed")
            experiment = add_experiment(session, campaign, f"e{index}", f"# {index}\n", parents=[root] if root else [])
            session.add(Evaluation(experiment_id=experiment.id, stage="screen", task="mqar", seed=0, lr=0.01,
                                   metric="accuracy", value=0.5))  # fmt: skip
            root = root or experiment.id
        index += 1
