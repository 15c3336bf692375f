"""Runs that differ only in their seed, as one setting: grouping, spreads, table, picture, report."""

from __future__ import annotations

import math
import statistics

import pytest

from gptlab.comparison import CompareSettings, RunSummary, compare
from gptlab.comparison.plot import plot_settings
from gptlab.comparison.seeds import best_setting_first, by_setting, has_repeats, settings_table
from tests.comparison.sweeps import log_run
from tests.helpers import new_mlflow_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(name: str, seed: int, lr: float, test_bpc: float | None, curve: tuple[float, ...] = ()) -> RunSummary:
    params = {"seed": str(seed), "optim.lr": str(lr), "logger.run_name": name}
    return RunSummary(run_id=f"id-{name}", name=name, params=params, test_bpc=test_bpc, val_bpc=test_bpc,
                      n_params=1000, tokens_per_s=100.0 * seed, position_loss=curve)  # fmt: skip


def test_runs_that_differ_only_in_seed_are_one_setting():
    runs = [
        _run("model=lstm,seed=1", 1, 0.003, 2.0),
        _run("model=rnn,seed=1", 1, 0.001, 3.0),
        _run("model=lstm,seed=3", 3, 0.003, 2.4),
        _run("model=rnn,seed=2", 2, 0.001, 3.4),
        _run("model=lstm,seed=2", 2, 0.003, 2.2),
    ]
    settings = by_setting(runs)
    assert [s.name for s in settings] == ["model=lstm", "model=rnn"]
    assert [s.seeds for s in settings] == [("1", "2", "3"), ("1", "2")]
    spread = settings[0].spread("test_bpc")
    assert (spread.mean, spread.n) == (pytest.approx(2.2), 3)
    assert spread.std == pytest.approx(statistics.stdev([2.0, 2.2, 2.4]))
    assert str(spread) == "2.200 ± 0.200"
    assert has_repeats(settings)
    assert not has_repeats(by_setting([runs[0], runs[1]]))  # one seed each: nothing to spread


def test_a_setting_lacking_a_score_in_one_run_has_no_spread_and_ranks_after():
    settings = by_setting([_run("a,seed=1", 1, 0.1, 2.0), _run("a,seed=2", 2, 0.1, None), _run("b,seed=1", 1, 0.2, 9.0)])
    assert settings[0].spread("test_bpc") is None
    assert settings[0].spread("tokens_per_s").mean == pytest.approx(150.0)
    # "a" has no complete test or val bits/char and no val loss: it ranks after "b".
    assert [s.name for s in best_setting_first(settings)] == ["b", "a"]


def test_position_loss_is_averaged_over_seeds_when_every_run_has_one():
    both = by_setting([_run("a,seed=1", 1, 0.1, 2.0, (3.0, 2.0)), _run("a,seed=2", 2, 0.1, 2.0, (2.0, 1.0))])
    assert both[0].position_loss == (2.5, 1.5)
    partial = by_setting([_run("a,seed=1", 1, 0.1, 2.0, (3.0, 2.0)), _run("a,seed=2", 2, 0.1, 2.0)])
    assert partial[0].position_loss == ()


def test_settings_table_rows():
    settings = best_setting_first(by_setting([
        _run("model=rnn,seed=1", 1, 0.001, 3.0), _run("model=rnn,seed=2", 2, 0.001, 3.2),
        _run("model=gru,seed=1", 1, 0.002, 2.0), _run("model=gru,seed=2", 2, 0.002, 2.0),
    ]))  # fmt: skip
    rows = [line.strip("|").split(" | ") for line in settings_table(settings).splitlines()[2:]]
    assert [[c.strip() for c in row] for row in rows] == [
        ["model=gru", "0.002", "1, 2", "2.000 ± 0.000", "2.000 ± 0.000", "1,000", "150"],
        ["model=rnn", "0.001", "1, 2", f"3.100 ± {statistics.stdev([3.0, 3.2]):.3f}", f"3.100 ± {statistics.stdev([3.0, 3.2]):.3f}",
         "1,000", "150"],
    ]  # fmt: skip


def test_plot_settings_draws_with_and_without_position_losses(tmp_path):
    runs = [_run("a,seed=1", 1, 0.1, 2.0, (3.0, 2.0, 1.5)), _run("a,seed=2", 2, 0.1, 2.1, (3.1, 2.1, 1.4))]
    for name, group in (("with.png", runs), ("without.png", [_run("b,seed=1", 1, 0.1, 2.0)])):
        out = plot_settings(by_setting(group), tmp_path / name, title="t")
        assert out.read_bytes()[:8] == PNG_MAGIC


def test_compare_reports_a_seeded_sweep_by_setting(tmp_path, tmp_path_factory):
    """compare() reads test bits/char and the loss by position from MLflow, and adds the
    per-setting table and seeds.png only when some setting has several seeds."""
    from mlflow.tracking import MlflowClient

    uri = new_mlflow_store(tmp_path, tmp_path_factory)
    client = MlflowClient(uri)
    exp = client.create_experiment("final")
    scores = {("lstm", 1): 2.0, ("lstm", 2): 2.1, ("rnn", 1): 2.5, ("rnn", 2): 2.9}
    for (model, seed), bpc in scores.items():
        run_id = log_run(client, exp, f"model={model},seed={seed}", {"model": model, "seed": seed},
                         [(10, 2.0)], {"eval/test_bits_per_char": bpc, "eval/val_bits_per_char": bpc + 0.1})  # fmt: skip
        for position, nats in enumerate((3.0, 2.0 - seed / 10)):
            client.log_metric(run_id, "eval/test_loss_at_position", nats, step=position)
    result = compare(CompareSettings(experiment_name="final", tracking_uri=uri, out_dir=str(tmp_path / "out"), sweep=None))
    assert [s.name for s in result.settings] == ["model=lstm", "model=rnn"]
    assert result.settings[1].spread("test_bpc").std == pytest.approx(statistics.stdev([2.5, 2.9]))
    assert result.settings[0].position_loss == pytest.approx((3.0, 1.85))
    md = result.markdown.read_text()
    assert "## Over seeds" in md and "| model=lstm |  | 1, 2 | 2.050 ± 0.071 |" in md
    assert result.settings_plot.read_bytes()[:8] == PNG_MAGIC
    assert all(math.isclose(r.test_bpc, scores[(r.params["model"], int(r.params["seed"]))]) for r in result.runs)

    one_seed = client.create_experiment("single")
    log_run(client, one_seed, "a", {"seed": 1, "model": "a"}, [(10, 2.0)])
    log_run(client, one_seed, "b", {"seed": 1, "model": "b"}, [(10, 2.0)])
    plain = compare(CompareSettings(experiment_name="single", tracking_uri=uri, out_dir=str(tmp_path / "o2"), sweep=None))
    assert plain.settings == () and plain.settings_plot is None
    assert "Over seeds" not in plain.markdown.read_text()
