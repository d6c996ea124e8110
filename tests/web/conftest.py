"""A store holding a small real campaign (a bundle exported from an 8-experiment `asiarch run` on the tiny
recall task, committed under fixtures/) plus one hostile experiment whose strings try to inject markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from asiarch.store.bundle import import_bundle
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, find_campaign

BUNDLE = Path(__file__).parent / "fixtures" / "tiny-campaign"
CAMPAIGN = "tiny"
HOSTILE_MOTIVATION = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
HOSTILE_CODE = "class Mixer:\n    '''</pre><script>document.title='pwned'</script>'''\n"
HOSTILE_NAME = "<b>bold</b>-name"


def build_store(path: Path) -> Path:
    """The tiny campaign twice (as for a comparison) and the hostile experiment as a child of its best one."""
    store = open_store(path)
    with store.session() as session:
        campaign = import_bundle(session, BUNDLE)
        import_bundle(session, BUNDLE, "tiny-again")
        best = max(campaign.experiments, key=lambda e: e.fitness if e.fitness is not None else float("-inf"))
        add_experiment(
            session,
            find_campaign(session, CAMPAIGN),
            HOSTILE_NAME,
            HOSTILE_CODE,
            parents=[best.id],
            motivation=HOSTILE_MOTIVATION,
            status="failed",
            failure_gate="parse",
            failure_reason="<script>alert(1)</script> is not a layer",
        )
    store.close()
    return path


@pytest.fixture(scope="module")
def campaign_db(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("observatory") / "observatory.db")
