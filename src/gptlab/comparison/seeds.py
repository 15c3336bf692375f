"""Runs that differ only in their seed, as one setting: mean and spread over the seeds."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gptlab.comparison.runs import RunSummary
from gptlab.comparison.table import IGNORED_KEYS, _row

SEED_KEY = "seed"
LR_KEY = "optim.lr"  # the setting a tuned comparison chose per model: a column of its own
# A sweep child's name lists its swept values (lr=1e-3,seed=2); the setting's name drops the seed.
_SEED_IN_NAME = re.compile(rf"(^|,){SEED_KEY}=[^,]*")


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float  # the sample standard deviation over seeds (0 for one seed)
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f}"


@dataclass(frozen=True)
class Setting:
    """The runs of one setting, and what they measured."""

    name: str
    runs: tuple[RunSummary, ...]

    @property
    def seeds(self) -> tuple[str, ...]:
        return tuple(r.params.get(SEED_KEY, "") for r in self.runs)

    def spread(self, metric: str) -> Spread | None:
        """``metric`` (a RunSummary field) over the runs; None unless every run has it."""
        values = [getattr(r, metric) for r in self.runs]
        if not values or any(v is None for v in values):
            return None
        return Spread(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))

    @property
    def position_loss(self) -> tuple[float, ...]:
        """The mean over seeds of the loss by position (nats), where every run logged one of one length."""
        curves = [r.position_loss for r in self.runs]
        if not curves or not all(curves) or len({len(c) for c in curves}) != 1:
            return ()
        return tuple(statistics.fmean(values) for values in zip(*curves))


def by_setting(runs: Sequence[RunSummary]) -> list[Setting]:
    """Runs grouped by every param but the seed, in the order of each group's first run."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in runs:
        key = tuple(sorted((k, v) for k, v in r.params.items() if k != SEED_KEY and k not in IGNORED_KEYS))
        groups.setdefault(key, []).append(r)
    return [Setting(_name(members), tuple(sorted(members, key=_seed_order))) for members in groups.values()]


def _seed_order(run: RunSummary) -> tuple:
    seed = run.params.get(SEED_KEY, "")
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def has_repeats(settings: Sequence[Setting]) -> bool:
    """Some setting was run with more than one seed: worth a table of spreads."""
    return any(len(s.runs) > 1 for s in settings)


def _name(runs: Sequence[RunSummary]) -> str:
    name = _SEED_IN_NAME.sub("", runs[0].name).strip(",")
    return name or runs[0].name


def best_setting_first(settings: Sequence[Setting]) -> list[Setting]:
    """Lowest mean test bits/char first, then validation bits/char, then validation loss."""

    def key(s: Setting) -> tuple:
        for metric in ("test_bpc", "val_bpc", "val_loss"):
            spread = s.spread(metric)
            if spread is not None:
                return (0, spread.mean, s.name)
        return (1, 0.0, s.name)

    return sorted(settings, key=key)


def settings_table(settings: Sequence[Setting]) -> str:
    """One row per setting: its seeds and the mean ± std of each score."""
    lines = [
        "| setting | lr | seeds | test bits/char | val bits/char | params | tokens/s |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for s in settings:
        params = {r.n_params for r in s.runs if r.n_params is not None}
        speed = s.spread("tokens_per_s")
        lrs = {r.params.get(LR_KEY, "") for r in s.runs}
        lines.append(
            _row(
                [
                    s.name,
                    lrs.pop() if len(lrs) == 1 else "",
                    ", ".join(s.seeds),
                    str(s.spread("test_bpc") or ""),
                    str(s.spread("val_bpc") or ""),
                    f"{params.pop():,}" if len(params) == 1 else "",
                    f"{speed.mean:,.0f}" if speed else "",
                ]
            )
        )
    return "\n".join(lines) + "\n"
