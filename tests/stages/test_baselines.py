"""``python -m gptlab.baselines experiment=seed_models_quick`` end to end (issue 32): every
model's learning-rate search on validation, the tuned models over seeds on test, the report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.sweeps.parent_run import PARENT_ROLE, PARENT_RUN_ID_TAG, ROLE_TAG

MODELS = ("bigram", "rnn", "lstm", "gru", "small")
SEARCH_GRID = (0.001, 0.00316, 0.01, 0.0316)  # conf/experiment/seed_models_quick.yaml
BIGRAM_GRID = (0.001, 0.01, 0.1, 0.3)
SEEDS = 2


@pytest.fixture(scope="module")
def quick_comparison(tmp_path_factory, subprocess_env) -> Path:
    root = tmp_path_factory.mktemp("baselines")
    res = subprocess.run([sys.executable, "-m", "gptlab.baselines", "experiment=seed_models_quick"], cwd=root,
                         env=subprocess_env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    (root / "stdout.md").write_text(res.stdout, encoding="utf-8")
    return root


def _tuned(root: Path) -> dict:
    (path,) = root.glob("multirun/seed_models_quick/*/tuned.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _runs(root: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    exp = client.get_experiment_by_name("gptlab")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


@pytest.mark.slow
def test_each_search_picks_its_best_trial_on_validation(quick_comparison):
    tuned = _tuned(quick_comparison)
    assert [s["model"] for s in tuned["searches"]] == list(MODELS)
    for search in tuned["searches"]:
        grid = BIGRAM_GRID if search["model"] == "bigram" else SEARCH_GRID
        trials = search["trials"]
        assert len(trials) == len(grid)
        lrs = sorted(float(dict(o.split("=", 1) for o in t["overrides"])["optim.lr"]) for t in trials)
        assert lrs == pytest.approx(sorted(grid))  # the grid, each point once
        scored = [t for t in trials if t["val_loss"] is not None]
        best = min(scored, key=lambda t: t["val_loss"])
        assert search["best_val_loss"] == pytest.approx(best["val_loss"])
        chosen = dict(o.split("=", 1) for o in best["overrides"])
        assert search["best"]["optim.lr"] == pytest.approx(float(chosen["optim.lr"]))
        assert search["best"]["optim.min_lr"] == pytest.approx(search["best"]["optim.lr"] / 10, rel=1e-4)


@pytest.mark.slow
def test_one_parent_run_per_search_and_one_for_the_final_models(quick_comparison):
    client, runs = _runs(quick_comparison)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get(ROLE_TAG) == PARENT_ROLE}
    assert len(parents) == len(MODELS) + 1
    assert all(p.info.status == "FINISHED" for p in parents.values())
    final_id = _tuned(quick_comparison)["final_parent_run"]
    children = [r for r in runs if r.data.tags.get(PARENT_RUN_ID_TAG) in parents]
    final = [r for r in children if r.data.tags[PARENT_RUN_ID_TAG] == final_id]
    search = [r for r in children if r.data.tags[PARENT_RUN_ID_TAG] != final_id]
    assert len(search) == len(MODELS) * len(SEARCH_GRID)
    assert len(final) == len(MODELS) * SEEDS
    # tuning never scored the test split; the final models did, with loss by position
    assert not [k for r in search for k in r.data.metrics if k.startswith("eval/test_")]
    assert all(r.info.status == "FINISHED" and math.isfinite(r.data.metrics["eval/test_bits_per_char"]) for r in final)
    assert sorted((r.data.params["model.kind"], r.data.params["seed"]) for r in final) == sorted(
        (kind, str(seed)) for kind in ("bigram", "rnn", "lstm", "gru", "gpt") for seed in (1, 2)
    )
    assert client.search_registered_models() == []  # baselines, not models to serve
    history = client.get_metric_history(final[0].info.run_id, "eval/test_loss_at_position")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(64))
    # each final run trained at its model's chosen rate
    chosen = {s["model"]: s["best"]["optim.lr"] for s in _tuned(quick_comparison)["searches"]}
    for r in final:
        model = r.info.run_name.split(",")[0].removeprefix("model=")  # e.g. model=rnn,seed=2
        assert float(r.data.params["optim.lr"]) == pytest.approx(chosen[model])


@pytest.mark.slow
def test_the_report_has_one_row_per_model_over_seeds(quick_comparison):
    out = quick_comparison / "reports" / "seed_models_quick"
    report = (out / "comparison.md").read_text(encoding="utf-8")
    assert (quick_comparison / "stdout.md").read_text(encoding="utf-8").endswith(report)  # printed last
    section = report.split("## Over seeds", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|") and "±" in line]
    assert len(rows) == len(MODELS)
    for name in ("comparison.png", "seeds.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the data stages' report beside the sweeps, not over the default pipeline's
    assert not (quick_comparison / "reports" / "tokenizer.json").exists()
    (sweep,) = quick_comparison.glob("multirun/seed_models_quick/*/")
    assert json.loads((sweep / "reports" / "tokenizer.json").read_text(encoding="utf-8"))
