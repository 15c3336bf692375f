"""The tuned comparison's plan and bookkeeping (``gptlab.baselines``,
``gptlab.sweeps.tuned_comparison``) with its steps stood in for: which commands it runs, in
which order, with which overrides, and what it reads back. The real run, in minutes, is
tests/stages/test_baselines.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from gptlab.errors import ConfigError, DataError, GptlabError
from gptlab.sweeps import tuned_comparison
from gptlab.sweeps.tuned_comparison import ComparisonPlan, Search, final_overrides, read_search, run_step
from tests.helpers import main_exit_code, one_error_line


def _job(sweep_dir: Path, number: int, overrides: list[str], val_loss: float | None) -> None:
    job = sweep_dir / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides), encoding="utf-8")
    if val_loss is not None:
        (job / "reports").mkdir()
        (job / "reports" / "metrics.json").write_text(json.dumps({"val": {"loss": val_loss}}), encoding="utf-8")


def _results(sweep_dir: Path, best: dict, value: float) -> None:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"name": "optuna", "best_params": best, "best_value": value})
    (sweep_dir / tuned_comparison.RESULTS_FILE).write_text(text, encoding="utf-8")


def test_read_search_takes_the_sweepers_best_and_every_trial_in_job_order(tmp_path):
    _results(tmp_path, {"optim.lr": 0.00316, "optim.min_lr": 0.000316}, 1.5)
    for number, (lr, loss) in enumerate([(0.001, 1.7), (0.00316, 1.5), (0.01, None)] + [(0.1, 2.5)] * 8):
        _job(tmp_path, number, [f"optim.lr={lr}", f"optim.min_lr={lr / 10}"], loss)
    (tmp_path / "multirun.yaml").write_text("{}", encoding="utf-8")  # not a job directory

    search = read_search("lstm", tmp_path, wall_s=12.5)

    assert search.best == {"optim.lr": 0.00316, "optim.min_lr": 0.000316}
    assert (search.model, search.best_val_loss, search.wall_s) == ("lstm", 1.5, 12.5)
    assert len(search.trials) == 11
    assert search.trials[2].val_loss is None  # a failed trial left no score
    assert [t.overrides[0] for t in search.trials[:3]] == ["optim.lr=0.001", "optim.lr=0.00316", "optim.lr=0.01"]
    assert search.trials[10].overrides[0] == "optim.lr=0.1"  # 10 after 9, not after 1


def test_a_search_without_the_sweepers_results_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="optimization_results.yaml.*Optuna sweep"):
        read_search("rnn", tmp_path, wall_s=1.0)


def test_final_overrides_set_each_models_tuned_keys():
    searches = [
        Search("rnn", {"optim.lr": 0.00178, "optim.min_lr": 0.000178}, 1.7, (), 1.0),
        Search("gru", {"optim.lr": 0.00562, "optim.min_lr": 0.000562}, 1.6, (), 1.0),
    ]
    assert final_overrides(searches) == [
        "tuned.rnn.lr=0.00178", "tuned.rnn.min_lr=0.000178", "tuned.gru.lr=0.00562", "tuned.gru.min_lr=0.000562",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("models", "extra", "match"),
    [((), {}, "at least one model"), (("rnn",), {"lstm": ("optim.lr=choice(0.1)",)}, r"not in baselines.models: \['lstm'\]")],
)
def test_a_plan_without_models_or_with_overrides_of_others_is_a_config_error(models, extra, match):
    with pytest.raises(ConfigError, match=match):
        ComparisonPlan("seed_models", "seed_models_final", models, "sweeps", search_overrides=extra)


def test_run_step_returns_its_wall_time_and_names_a_failed_step():
    assert run_step("a step", [sys.executable, "-c", "pass"]) >= 0
    with pytest.raises(GptlabError, match=r"the build stage failed \(exit 3\).*command: python -c 'import sys; sys.exit\(3\)'$"):
        run_step("the build stage", [sys.executable, "-c", "import sys; sys.exit(3)"])


def test_run_comparison_runs_data_searches_then_the_final_sweep_at_the_chosen_rates(tmp_path, monkeypatch):
    from gptlab.sweeps import parent_run

    chosen = {"bigram": 0.1, "lstm": 0.0178}
    commands: list[tuple[str, list[str]]] = []

    def step(what, command):
        commands.append((what, command[2:]))
        sweep_dir = next((a.split("=", 1)[1] for a in command if a.startswith("hydra.sweep.dir=")), None)
        model = next((a.split("=", 1)[1] for a in command if a.startswith("model=")), None)
        if what.startswith("search"):
            _results(Path(sweep_dir), {"optim.lr": chosen[model], "optim.min_lr": chosen[model] / 10}, 2.0)
            _job(Path(sweep_dir), 0, [f"optim.lr={chosen[model]}"], 2.0)
        return 3.0

    monkeypatch.setattr(tuned_comparison, "run_step", step)
    monkeypatch.setattr(parent_run, "read_parent", lambda d: type("P", (), {"run_id": "final-run"})())
    plan = ComparisonPlan("seed_models_quick", "seed_models_quick_final", ("bigram", "lstm"), str(tmp_path),
                          overrides=("data.path=x.txt",), search_overrides={"bigram": ("optim.lr=choice(0.1,0.3)",)})  # fmt: skip

    summary = tuned_comparison.run_comparison(plan)

    data = ["experiment=seed_models_quick", "hydra.mode=RUN", f"paths.reports_dir={tmp_path / 'reports'}", "data.path=x.txt"]
    assert commands[:3] == [(f"the {s} stage", [f"gptlab.{s}", *data]) for s in ("prepare", "tokenize", "build")]
    assert commands[3] == ("search 1/2 (bigram)", [
        "gptlab.train", "--multirun", "experiment=seed_models_quick", "model=bigram",
        f"hydra.sweep.dir={tmp_path / 'search' / 'bigram'}", "data.path=x.txt", "optim.lr=choice(0.1,0.3)",
    ])  # fmt: skip
    assert commands[4][0] == "search 2/2 (lstm)" and "optim.lr=choice(0.1,0.3)" not in commands[4][1]
    assert commands[5] == ("the final sweep", [
        "gptlab.train", "--multirun", "experiment=seed_models_quick_final", f"hydra.sweep.dir={tmp_path / 'final'}",
        "model=bigram,lstm", "data.path=x.txt",
        "tuned.bigram.lr=0.1", "tuned.bigram.min_lr=0.01", "tuned.lstm.lr=0.0178", "tuned.lstm.min_lr=0.00178",
    ])  # fmt: skip
    assert len(commands) == 6
    written = json.loads((tmp_path / tuned_comparison.TUNED_FILE).read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(summary))  # the returned summary, as JSON
    assert summary["final_parent_run"] == "final-run"
    assert [s["best"]["optim.lr"] for s in summary["searches"]] == [0.1, 0.0178]
    assert summary["searches"][0]["wall_s"] == 3.0 and summary["final_wall_s"] == 3.0


def _baselines_main(monkeypatch, *args):
    """``python -m gptlab.baselines ARGS`` with the comparison and the report stood in for:
    the plan it made and the compare settings it gave."""
    from gptlab import comparison

    seen = {}

    def comparison_run(plan):
        seen["plan"] = plan
        return {"final_parent_run": "final-run"}

    def compare(settings):
        seen["compare"] = settings
        report = Path(settings.out_dir) / "comparison.md"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("| model |\n", encoding="utf-8")
        return type("R", (), {"markdown": report})()

    monkeypatch.setattr(tuned_comparison, "run_comparison", comparison_run)
    monkeypatch.setattr(comparison, "compare", compare)
    return main_exit_code(monkeypatch, "baselines", *args), seen


def test_the_cli_gives_its_other_overrides_to_every_step_and_compares_the_final_sweep(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    code, seen = _baselines_main(monkeypatch, "experiment=seed_models_quick", "data.path=x.txt", "trainer.max_steps=7",
                                 f"out_dir={out}", f"logger.tracking_uri=sqlite:///{tmp_path / 'm.db'}")  # fmt: skip
    assert code == 0
    plan = seen["plan"]
    assert (plan.search_experiment, plan.final_experiment) == ("seed_models_quick", "seed_models_quick_final")
    assert plan.models == ("bigram", "rnn", "lstm", "gru", "small")
    assert plan.overrides == ("data.path=x.txt", "trainer.max_steps=7", f"logger.tracking_uri=sqlite:///{tmp_path / 'm.db'}")
    assert plan.search_overrides == {"bigram": ("optim.lr=choice(0.001,0.01,0.1,0.3)",)}
    assert Path(plan.sweep_dir).parent == Path("multirun/seed_models_quick")  # conf/baselines.yaml: .../<time>
    assert seen["compare"].sweep == "final-run" and seen["compare"].out_dir == str(out)
    assert seen["compare"].tracking_uri == f"sqlite:///{tmp_path / 'm.db'}"
    assert capsys.readouterr().out == "| model |\n"


@pytest.mark.parametrize(
    ("args", "words"),
    [(("experiment=smoke",), ("baselines: section", "experiment=seed_models")),
     (("experiment=seed_models_quick", "logger=none"), ("logger.enabled=true",))],
)  # fmt: skip
def test_a_preset_without_a_plan_or_tracking_off_is_one_error_line(monkeypatch, capsys, args, words):
    code, seen = _baselines_main(monkeypatch, *args)
    assert code == 2 and not seen
    one_error_line(capsys.readouterr().err, *words)
