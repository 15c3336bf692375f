"""The comparison picture: validation-loss curves overlaid, and final score against size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gptlab.comparison.runs import PARAM_COUNT_METRICS, RunSummary
from gptlab.comparison.seeds import Setting
from gptlab.reporting.figure import pyplot, save_png

# Beyond this many runs a legend covers the curves; the table names them all anyway.
_MAX_LEGEND = 12


def plot_comparison(runs: Sequence[RunSummary], out: str | Path, title: str = "") -> Path:
    """Left: ``val/loss`` against step for every run. Right: final bits per character
    (validation loss where any plotted run lacks it) against parameter count, log x.

    Runs keep one colour in both panels, in the order given (best first from the CLI).
    """
    plt = pyplot()
    fig, (curves, sizes) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    palette = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    colours = {r.run_id: palette(i % palette.N) for i, r in enumerate(runs)}

    for i, r in enumerate(runs):
        if not r.val_curve:
            continue
        steps, values = zip(*r.val_curve)
        label = r.name if i < _MAX_LEGEND else None
        curves.plot(steps, values, marker="o", markersize=3, linewidth=1.3, color=colours[r.run_id], label=label)
    curves.set_xlabel("step")
    curves.set_ylabel("validation loss (nats/token)")
    curves.set_title("validation loss")
    curves.grid(True, alpha=0.3)
    if any(r.val_curve for r in runs):
        curves.legend(fontsize=7, loc="upper right")
    else:
        _note(curves, "no run logged val/loss")

    sized = [r for r in runs if r.n_params is not None and r.n_params > 0]
    use_bpc = bool(sized) and all(r.val_bpc is not None for r in sized)
    points = [(r, r.val_bpc if use_bpc else r.val_loss) for r in sized]
    points = [(r, y) for r, y in points if y is not None]
    for r, y in points:
        sizes.scatter([r.n_params], [y], color=colours[r.run_id], s=36, zorder=3)
        sizes.annotate(r.name, (r.n_params, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    sizes.set_xscale("log")
    sizes.margins(x=0.2, y=0.15)  # room for the run-name labels at the edges
    sizes.set_xlabel("parameters")
    sizes.set_ylabel("validation bits per character" if use_bpc else "final validation loss (nats/token)")
    sizes.set_title("final score against model size")
    sizes.grid(True, which="both", alpha=0.3)
    if not points:
        # Empty axes would show made-up ticks (1 to 10 parameters): show none.
        sizes.set_xscale("linear")
        sizes.set_xticks([])
        sizes.set_yticks([])
        _note(sizes, f"no run recorded a parameter count\n(metric {PARAM_COUNT_METRICS[0]})")

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, out)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def plot_settings(settings: Sequence[Setting], out: str | Path, title: str = "") -> Path:
    """Left: each setting's mean bits per character with its seeds' standard deviation
    (test split where every setting has it, else validation). Right: the loss at each
    position of the context window, mean over seeds, in bits."""
    import math

    plt = pyplot()
    fig, (scores, positions) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    palette = plt.get_cmap("tab10" if len(settings) <= 10 else "tab20")
    metric = "test_bpc" if all(s.spread("test_bpc") for s in settings) else "val_bpc"
    spreads = [(s, s.spread(metric)) for s in settings]
    spreads = [(s, sp) for s, sp in spreads if sp is not None]
    for i, (s, sp) in enumerate(spreads):
        scores.errorbar([i], [sp.mean], yerr=[sp.std], fmt="o", capsize=5, color=palette(i % palette.N))
    scores.set_xticks(range(len(spreads)), [s.name for s, _ in spreads], rotation=20, ha="right", fontsize=8)
    scores.set_ylabel(f"{'test' if metric == 'test_bpc' else 'validation'} bits per character")
    scores.set_title("mean ± std over seeds")
    scores.grid(True, axis="y", alpha=0.3)
    if not spreads:
        _note(scores, "no setting recorded bits per character")

    drawn = False
    for i, s in enumerate(settings):
        curve = s.position_loss
        if curve:
            positions.plot(range(len(curve)), [v / math.log(2) for v in curve], label=s.name, color=palette(i % palette.N))
            drawn = True
    positions.set_xscale("symlog", linthresh=1)
    positions.set_xlabel("position in the context window (tokens of context - 1)")
    positions.set_ylabel("loss (bits per token)")
    positions.set_title("loss by position")
    positions.grid(True, which="both", alpha=0.3)
    if drawn:
        positions.legend(fontsize=7, loc="upper right")
    else:
        _note(positions, "no run logged its loss by position\n(evaluate.loss_by_position=true)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, out)
