"""Real A/A runs: renamed, semantically identical copies of strong references through the real confirm stage.

Under the null a candidate that *is* a reference must never be called a discovery. Each copy is the reference's
own grammar code with one extra random draw before its parameters are built: the same layer with the same
initial distribution, initialised from other random numbers, so it is not the reference's run replayed seed for
seed (an exact copy would give identical numbers and test nothing). Every copy is put through
``asiarch.promotion.advance`` — the campaign's own confirm step: the references measured at confirm, the looks, the
futility and efficacy rules, the family of the campaign's stored config — and its stored verdict is printed.

    python benchmarks/aa_confirm.py [--copies deltanet,gated_deltanet] [--rivals deltanet,gated_deltanet,mamba2]
                                    [--steps-scale 0.25] [--store aa.db] [--cache-dir DIR]

The default confirm stage (5 tasks, 6 seeds, every rival measured) costs hours on 2 cores; ``--steps-scale``
shortens every confirm task's training and ``--rivals`` names the references measured, so a run fits in
minutes. The printout says which settings were used. Run again with the same --store to resume.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from confirm_settings import shorten_confirm

from asiarch.agents.analyst import Analyst
from asiarch.agents.engineer import Engineer
from asiarch.agents.researcher.context import zoo_brief
from asiarch.config import Config, load_config
from asiarch.execute.local import LocalExecutor
from asiarch.flights import CONFIRM, Flight
from asiarch.loop import open_campaign
from asiarch.promotion import advance
from asiarch.store.db import open_store
from asiarch.store.queries import add_experiment, analyses_of, find_campaign
from asiarch.store.schema import Experiment

EXTRA_DRAW = "        torch.rand(1)  # one extra draw: the same layer, initialised from other random numbers\n"


def renamed_copy(reference: str) -> str:
    """The reference's generated code with one extra draw right after ``Mixer.__init__``'s ``super().__init__()``."""
    code = zoo_brief(reference).code
    mixer = code.index("class Mixer")
    call = code.index("super().__init__()\n", mixer) + len("super().__init__()\n")
    return code[:call] + EXTRA_DRAW + code[call:]


def confirm_config(rivals: list[str], steps_scale: float, store: Path, cache_dir: Path | None) -> Config:
    """The default config with the named rivals, every confirm task's steps scaled, and the given store."""
    tree = load_config(None).model_dump(mode="json")
    tree["references"] = rivals
    tree["analyst"]["rivals"] = rivals
    tree["store"] = str(store)
    if cache_dir is not None:
        tree["cache_dir"] = str(cache_dir)
    return Config.model_validate(shorten_confirm(tree, steps_scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="deltanet,gated_deltanet", help="References to copy (comma-separated).")
    parser.add_argument("--rivals", default="deltanet,gated_deltanet,mamba2", help="References measured at confirm.")
    parser.add_argument("--steps-scale", type=float, default=0.25, help="Multiply every confirm task's steps.")
    parser.add_argument("--store", type=Path, default=Path("aa-confirm.db"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="Baseline cache (default: the config's).")
    parser.add_argument("--name", default="aa")
    args = parser.parse_args()

    rivals = args.rivals.split(",")
    config = confirm_config(rivals, args.steps_scale, args.store, args.cache_dir)
    confirm = config.stage(CONFIRM)
    print(f"confirm stage: tasks {', '.join(confirm.tasks)}; steps "
          f"{', '.join(str(r.train.steps) for r in confirm.tasks.values())}; seeds {confirm.seed_base}.."
          f"{confirm.seed_base + confirm.seeds - 1}; looks {confirm.look_counts()}; rivals {', '.join(rivals)}; "
          f"family m={config.analyst.max_promotions}, alpha={config.analyst.discovery_alpha}")  # fmt: skip
    store = open_store(config.store)
    campaign_id = open_campaign(store, args.name, config)
    directory = Path(config.campaign.work_dir) / args.name
    analyst = Analyst(config)
    with LocalExecutor(config.execution) as executor:
        for reference in args.copies.split(","):
            name = f"aa-copy-of-{reference}"
            with store.session() as session:
                campaign = find_campaign(session, args.name)
                row = session.query(Experiment).filter_by(campaign_id=campaign_id, name=name).one_or_none()
                if row is None:
                    row = add_experiment(session, campaign, name, renamed_copy(reference), status="promoted",
                                         decision={"parent": f"zoo:{reference}", "aa": True})  # fmt: skip
                flight = Flight(row.id, row.status)
                done = any(a.stage == CONFIRM for a in analyses_of(session, row.id))
            started = time.monotonic()
            if not done:
                advance(store, config, executor, Engineer(config, executor), analyst, flight, CONFIRM, directory,
                        lambda *a, **k: None)  # fmt: skip
            with store.session() as session:
                row = session.get(Experiment, flight.id)
                verdicts = [a.significance for a in analyses_of(session, row.id) if a.stage == CONFIRM]
                seeds = sorted({e.seed for e in row.evaluations if e.stage == CONFIRM})
                print(f"\n{name}: status {row.status}; {len(seeds)} candidate seeds; "
                      f"{time.monotonic() - started:.0f} s wall this run")  # fmt: skip
                if verdicts:
                    v = verdicts[-1]
                    print(f"  outcome: {v['outcome']} at look {v['look'] + 1} of {v['looks']}; rivals {v['rivals']}; "
                          f"largest p {v['p_value']}; p x m / share {v['p_corrected']}")  # fmt: skip
                    print(f"  {v['reason']}")
                elif row.failure_reason:
                    print(f"  failed: {row.failure_reason}")


if __name__ == "__main__":
    main()
