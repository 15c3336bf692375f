"""The seed-model comparison's presets (conf/experiment/seed_models*.yaml): a search and its
final sweep train on the same data and budget, and the final one takes each model's tuned
learning rate from its ``model=`` choice."""

from __future__ import annotations

import pytest

from tests.helpers import CONF, conf_values

PAIRS = [("seed_models", "seed_models_final"), ("seed_models_quick", "seed_models_quick_final")]
# What a search may set otherwise than its final sweep: what it scores, and (optim) the rate it searches.
SCORING = {"evaluate": ("splits", "loss_by_position"), "optimized_metric": ()}
SAME = ("data", "paths", "tokenizer", "build", "model", "trainer", "train", "optim", "evaluate", "seed", "logger")


@pytest.mark.parametrize(("search", "final"), PAIRS)
@pytest.mark.parametrize("model", ["bigram", "lstm", "small"])
def test_a_search_and_its_final_sweep_share_data_and_budget(search, final, model):
    rate = ("optim.lr=0.00316", "optim.min_lr=0.000316")  # in place of the final's ${tuned...}
    a = conf_values("", f"experiment={search}", f"model={model}", *rate)
    b = conf_values("", f"experiment={final}", f"model={model}", *rate)
    for section in SAME:
        left, right = a[section], b[section]
        if isinstance(left, dict):
            skip = SCORING.get(section, ())
            left = {k: v for k, v in left.items() if k not in skip}
            right = {k: v for k, v in right.items() if k not in skip}
        assert left == right, section
    assert a["evaluate"]["splits"] == ["val"]  # tuning never scores the test split
    assert "test" in b["evaluate"]["splits"] and b["evaluate"]["loss_by_position"] is True
    assert a["logger"]["registered_model_name"] is None  # baselines: nothing registered


@pytest.fixture
def hydra_run_config():
    """A composed config with its ``hydra:`` node set as the running job's (what
    ``${hydra:runtime.choices.model}`` reads); cleared after."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    def make(*overrides: str):
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield make
    HydraConfig.instance().cfg = None


@pytest.mark.parametrize("final", [f for _, f in PAIRS])
def test_the_final_sweep_trains_each_model_at_its_tuned_rate(hydra_run_config, final):
    tuned = ("tuned.lstm.lr=0.0178", "tuned.lstm.min_lr=0.00178", "tuned.gru.lr=0.00562", "tuned.gru.min_lr=0.000562")
    for model, lr, min_lr in (("lstm", 0.0178, 0.00178), ("gru", 0.00562, 0.000562)):
        cfg = hydra_run_config(f"experiment={final}", f"model={model}", *tuned)
        assert (cfg.optim.lr, cfg.optim.min_lr) == (lr, min_lr)


def test_a_model_without_its_tuned_rate_is_one_config_error_naming_the_key(hydra_run_config):
    from gptlab.errors import ConfigError
    from gptlab.training.settings import fit_settings

    cfg = hydra_run_config("experiment=seed_models_final", "model=rnn", "tuned.lstm.lr=0.1", "tuned.lstm.min_lr=0.01")
    with pytest.raises(ConfigError, match=r"^optim\.lr: .*Missing mandatory value: tuned\.rnn\.lr"):
        fit_settings(cfg)
