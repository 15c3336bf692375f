"""python -m gptlab.compare on hand-made MLflow runs: table, picture, CLI and user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.comparison import CompareSettings, RunSummary, best_first, compare, markdown_table, varying_keys
from gptlab.comparison.plot import plot_comparison
from gptlab.comparison.table import duration
from gptlab.errors import ConfigError, DataError
from tests.comparison.sweeps import log_run
from tests.helpers import CONF, conf_section, new_mlflow_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with experiment ``sweep`` (three runs that differ in n_layer and lr) and
    experiment ``empty`` (no runs)."""
    from mlflow.tracking import MlflowClient

    uri = new_mlflow_store(tmp_path_factory.mktemp("store"), tmp_path_factory)
    client = MlflowClient(uri)
    exp = client.create_experiment("sweep")
    client.create_experiment("empty")
    common = {"seed": 1337, "paths.model_dir": "artifacts/model", "trainer.max_steps": 30}
    log_run(client, exp, "shallow", {**common, "model.n_layer": 1, "optim.lr": 1e-3, "logger.run_name": "shallow"},
            [(10, 2.6), (20, 2.3), (30, 2.1)],
            {"eval/val_bits_per_char": 3.1, "model/params": 12_000, "train/tokens_per_s": 900.0})  # fmt: skip
    log_run(client, exp, "deep", {**common, "model.n_layer": 2, "optim.lr": 1e-3, "logger.run_name": "deep"},
            [(10, 2.4), (20, 1.9), (30, 1.5)],
            {"eval/val_bits_per_char": 2.4, "model/params": 24_000, "train/tokens_per_s": 500.0})  # fmt: skip
    log_run(client, exp, "deep-fast", {**common, "model.n_layer": 2, "optim.lr": 3e-3, "logger.run_name": "deep-fast"},
            [(10, 2.2), (20, 1.9), (30, 1.8)], {"train/tokens_per_s": 510.0})  # fmt: skip
    return uri


def _summary(name: str, val_loss: float | None, **params: object) -> RunSummary:
    return RunSummary(run_id=f"id-{name}", name=name, params={k: str(v) for k, v in params.items()}, val_loss=val_loss)


def _table_rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_varying_keys_are_the_settings_that_differ():
    runs = [
        _summary("a", 1.0, **{"model.n_layer": 1, "optim.lr": 0.001, "seed": 1, "logger.run_name": "a"}),
        _summary("b", 2.0, **{"model.n_layer": 2, "optim.lr": 0.001, "seed": 1, "logger.run_name": "b"}),
        _summary("c", 3.0, **{"model.n_layer": 2, "optim.lr": 0.001, "seed": 1, "data.path": "x.txt"}),
    ]
    # data.path is missing from two runs: that is a difference too. The run name has its own column.
    assert varying_keys(runs) == ["data.path", "model.n_layer"]
    assert varying_keys(runs[1:2]) == []


def test_rows_are_sorted_by_bits_per_char_and_runs_without_it_go_last_by_loss():
    def run(name: str, val_loss: float | None, bpc: float | None) -> RunSummary:
        return RunSummary(run_id=name, name=name, val_loss=val_loss, val_bpc=bpc)

    # Validation loss is per token: a BPE run's is higher for a better model, so it does not rank.
    runs = [run("y", 0.3, None), run("bpe", 4.0, 1.2), run("z", None, None), run("char", 1.5, 2.2), run("x", 0.1, None)]
    assert [r.name for r in best_first(runs)] == ["bpe", "char", "x", "y", "z"]


def test_table_cells_cannot_break_the_markdown_table():
    runs = [_summary("a|b", 1.0, prompt="x|y\nz"), _summary("c", 2.0, prompt="p")]
    rows = _table_rows(markdown_table(runs))
    assert rows[0][:2] == ["run", "prompt"]
    assert rows[2][:2] == ["a\\|b", "x\\|y z"]
    assert all(len(r) == len(rows[0]) for r in rows)


def test_durations_read_naturally():
    assert duration(None) == ""
    assert duration(7.25) == "7.2 s"
    assert duration(185) == "3 min 05 s"
    assert duration(7300) == "2 h 01 min"


def test_compare_writes_a_sorted_table_of_the_differing_keys_and_a_png(store, tmp_path):
    result = compare(CompareSettings(experiment_name="sweep", tracking_uri=store, out_dir=str(tmp_path / "out"), sweep=None))
    assert result.varying == ("model.n_layer", "optim.lr")
    assert [r.name for r in result.runs] == ["deep", "shallow", "deep-fast"]  # deep-fast has no bits/char

    md = (tmp_path / "out" / "comparison.md").read_text()
    header, _, *rows = _table_rows(md)
    assert header == ["run", "model.n_layer", "optim.lr", "val/loss", "eval/val_bits_per_char", "params", "tokens/s", "wall time"]
    assert [row[:6] for row in rows] == [
        ["deep", "2", "0.001", "1.5000", "2.4000", "24,000"],
        ["shallow", "1", "0.001", "2.1000", "3.1000", "12,000"],
        ["deep-fast", "2", "0.003", "1.8000", "", ""],  # no bits/char, no parameter count: blank
    ]
    assert [row[6] for row in rows] == ["500", "900", "510"]
    assert "lowest `eval/val_bits_per_char` first (runs without it after them, by `val/loss`)" in md
    assert all(row[7].endswith(" s") for row in rows)  # finished runs have a wall time
    assert "seed" not in header and "logger.run_name" not in header
    assert "comparison.png" in md

    png = tmp_path / "out" / "comparison.png"
    assert result.plot == png and png.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(png).shape
    assert width > 1.5 * height  # two panels side by side
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically, nothing left over


def test_val_loss_curves_come_from_the_metric_history(store, tmp_path):
    result = compare(CompareSettings(experiment_name="sweep", tracking_uri=store, out_dir=str(tmp_path), sweep=None))
    deep = next(r for r in result.runs if r.name == "deep")
    assert deep.val_curve == ((10, 2.4), (20, 1.9), (30, 1.5))
    assert deep.n_params == 24_000 and deep.tokens_per_s == 500.0


def test_unknown_experiment_names_it_and_lists_the_existing_ones(store, tmp_path):
    with pytest.raises(ConfigError, match=r"'nope' not found.*existing experiments: 'Default', 'empty', 'sweep' "
                       r"\(choose one with experiment_name=NAME\)"):  # fmt: skip
        compare(CompareSettings(experiment_name="nope", tracking_uri=store, out_dir=str(tmp_path), sweep=None))
    assert not list(tmp_path.iterdir())


def test_an_experiment_without_runs_is_a_clear_error(store, tmp_path):
    with pytest.raises(DataError, match=r"'empty'.*no runs.*existing experiments: 'Default', 'sweep'"):
        compare(CompareSettings(experiment_name="empty", tracking_uri=store, out_dir=str(tmp_path), sweep=None))


def test_a_missing_sqlite_store_is_refused_not_created(tmp_path):
    db = tmp_path / "nothing.db"
    with pytest.raises(ConfigError, match="no MLflow store"):
        compare(CompareSettings(experiment_name="gptlab", tracking_uri=f"sqlite:///{db}", out_dir=str(tmp_path), sweep=None))
    assert not db.exists()


def test_an_empty_experiment_name_is_a_config_error():
    with pytest.raises(ConfigError, match="must name an MLflow experiment, e.g. experiment_name=gptlab"):
        conf_section(CompareSettings, "", config_name="compare", experiment_name="  ")


def test_the_picture_is_drawn_without_curves_or_parameter_counts(tmp_path):
    runs = [_summary("a", 1.0), _summary("b", None)]
    out = plot_comparison(runs, tmp_path / "c.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_compare_config_defaults_to_the_training_store_and_experiment():
    from hydra import compose, initialize_config_dir

    from gptlab.compare import settings

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(config_name="compare")
    s = settings(cfg)
    assert (s.experiment_name, s.tracking_uri, s.out_dir) == ("gptlab", "sqlite:///mlflow.db", "reports/compare")


def test_cli_compares_the_named_experiment_and_fails_in_one_line(store, tmp_path, subprocess_env):
    cmd = [sys.executable, "-m", "gptlab.compare", f"tracking_uri={store}"]
    ok = subprocess.run([*cmd, "experiment_name=sweep"], cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "reports/compare/comparison.md").is_file()
    assert (tmp_path / "reports/compare/comparison.png").is_file()
    assert "| deep | 2 | 0.001 | 1.5000 |" in ok.stdout

    bad = subprocess.run([*cmd, "experiment_name=nope"], cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'nope'" in errors[0] and "'sweep'" in errors[0]
    assert "Traceback" not in bad.stderr
    assert not Path(tmp_path / "outputs").exists()  # Hydra wrote no run folder
