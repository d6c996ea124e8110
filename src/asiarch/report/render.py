"""The discovery curve as a PNG: two panels, against compute-hours and against experiments.

Drawn with matplotlib's object API on an Agg canvas, so no display and no global pyplot state are
involved: a report can be rendered on a headless server or inside a running campaign.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from asiarch.report.curve import DiscoveryCurve

FIGURE_SIZE_IN = (11.0, 4.2)
DPI = 120
DISCOVERY_COLOUR = "#c0392b"
PROMOTED_COLOUR = "#2471a3"


def render_curve(curve: DiscoveryCurve, path: Path) -> None:
    """Write the cumulative discoveries and promoted candidates, left against compute-hours, right against the
    number of experiments proposed."""
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    by_compute, by_count = figure.subplots(1, 2, sharey=True)
    axes = (
        (by_compute, [p.compute_hours for p in curve.points], "cumulative compute (CPU + GPU hours)"),
        (by_count, [p.experiments for p in curve.points], "experiments proposed"),
    )
    for ax, xs, label in axes:
        if xs:
            _steps(ax, [0.0, *xs], [0, *(p.promoted for p in curve.points)], "promoted", PROMOTED_COLOUR)
            _steps(ax, [0.0, *xs], [0, *(p.discoveries for p in curve.points)], "discoveries", DISCOVERY_COLOUR)
        else:
            ax.text(0.5, 0.5, "no experiments yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    by_compute.set_ylabel("cumulative count")
    if curve.points:
        by_count.legend(loc="upper left")
    found, count = len(curve.discoveries), len(curve.points)
    promoted = curve.points[-1].promoted if count else 0
    figure.suptitle(f"{curve.campaign}: {count} experiments, promoted {promoted}, discoveries {found}, "
                    f"{curve.compute_hours:.2f} compute-hours")  # fmt: skip
    figure.savefig(path)


def _steps(ax, xs: list[float], ys: list[int], label: str, colour: str) -> None:  # noqa: ANN001 - an Axes
    ax.step(xs, ys, where="post", label=label, color=colour, linewidth=2)
    rises = [(x, y) for x, y, before in zip(xs[1:], ys[1:], ys) if y > before]
    if rises:
        ax.plot(*zip(*rises), "o", color=colour, markersize=4)
