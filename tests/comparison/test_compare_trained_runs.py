"""gptlab.compare on runs the train stage really logged."""

from __future__ import annotations

import pytest

from gptlab.comparison import CompareSettings, compare
from tests.comparison.sweeps import train_sweep
from tests.helpers import conf_section, copy_built


def test_compare_two_trained_runs(built_data, workdir, mlflow_store):
    copy_built(built_data, workdir)
    uri = mlflow_store  # workdir/mlflow.db
    reports = train_sweep(uri, "sweep", {"L1": ["model.n_layer=1"], "L2": ["model.n_layer=2"]})

    result = compare(conf_section(CompareSettings, "", config_name="compare", experiment_name="sweep", tracking_uri=uri))
    # Both runs share every other setting (same data, seed, paths): only n_layer differs.
    assert result.varying == ("model.n_layer",)
    assert [r.name for r in result.runs] == sorted(reports, key=lambda name: reports[name]["val_loss"])
    for r in result.runs:
        assert r.val_loss == pytest.approx(reports[r.name]["val_loss"], rel=1e-5)
        # Validations at steps 10 and 20 (Lightning logs them at the last batch's index).
        assert [step for step, _ in r.val_curve] == [9, 19]
        assert r.tokens_per_s and r.tokens_per_s > 0
        assert r.wall_s and r.wall_s > 0

    md = (workdir / "reports/compare/comparison.md").read_text()
    for name, report in reports.items():
        assert f"| {name} | {name[1]} | {report['val_loss']:.4f} |" in md
    assert (workdir / "reports/compare/comparison.png").stat().st_size > 10_000
