"""The comparison table: which config keys differ between runs, and one row per run."""

from __future__ import annotations

from collections.abc import Sequence

from gptlab.comparison.runs import VAL_BPC, VAL_LOSS, RunSummary

# "Best" in the report: bits per character compares char and BPE models on one axis
# (validation loss is per token); runs the evaluate stage did not score follow, by loss.
RANK_ORDER = f"lowest `{VAL_BPC}` first (runs without it after them, by `{VAL_LOSS}`)"

# Keys that differ between runs without being a setting worth a column: the run name
# has its own column already.
IGNORED_KEYS = frozenset({"logger.run_name"})


def varying_keys(runs: Sequence[RunSummary]) -> list[str]:
    """Param keys whose value is not the same in every run (a key missing from some
    runs counts as differing), sorted."""
    keys = set().union(*(r.params for r in runs)) - IGNORED_KEYS
    return sorted(k for k in keys if len({r.params.get(k) for r in runs}) > 1)


def best_first(runs: Sequence[RunSummary]) -> list[RunSummary]:
    """In ``RANK_ORDER``, ties by name."""
    return sorted(runs, key=lambda r: (r.val_bpc is None, r.val_bpc or 0.0, r.val_loss is None, r.val_loss or 0.0, r.name))


def markdown_table(runs: Sequence[RunSummary], keys: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table, rows in the order given; blank cells for
    numbers a run did not record."""
    keys = varying_keys(runs) if keys is None else list(keys)
    header = ["run", *keys, VAL_LOSS, VAL_BPC, "params", "tokens/s", "wall time"]
    align = ["---", *(["---"] * len(keys)), "---:", "---:", "---:", "---:", "---:"]
    lines = [_row(header), _row(align)]
    for r in runs:
        lines.append(
            _row(
                [
                    r.name,
                    *(r.params.get(k, "") for k in keys),
                    _fixed(r.val_loss, 4),
                    _fixed(r.val_bpc, 4),
                    f"{r.n_params:,}" if r.n_params is not None else "",
                    _fixed(r.tokens_per_s, 0, grouped=True),
                    duration(r.wall_s),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def duration(seconds: float | None) -> str:
    """``7.2`` -> ``7.2 s``, ``185`` -> ``3 min 05 s``, ``7300`` -> ``2 h 01 min``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _fixed(x: float | None, digits: int, grouped: bool = False) -> str:
    if x is None:
        return ""
    return f"{x:,.{digits}f}" if grouped else f"{x:.{digits}f}"


def _cell(text: object) -> str:
    # A pipe would end the cell and a newline the row: both can occur in param values.
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"
