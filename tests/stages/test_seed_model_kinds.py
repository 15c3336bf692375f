"""The bigram and recurrent kinds through the same stages as the GPT: train, evaluate, sample,
serve (the pyfunc model the publish stage logs); refused in one line where they cannot go (export, attention, init_from)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

import pandas as pd

from gptlab.checkpoint import load_model_dir
from gptlab.errors import ConfigError
from gptlab.serving.pyfunc_model import MODEL_DIR_ARTIFACT, GptlabTextGenerator
from tests.helpers import SMALL_CORPUS, cli_exit_code, copy_built, run_stage

SMOKE = ("experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0", "logger=none")
TINY = {"bigram": (), **{k: ("model.n_embd=32", "model.n_layer=1") for k in ("rnn", "lstm", "gru")}}


@pytest.fixture
def built(built_data, workdir) -> Path:
    return copy_built(built_data, workdir)


@pytest.mark.parametrize("kind", ["bigram", "rnn", "lstm", "gru"])
def test_kind_trains_evaluates_and_samples_through_the_stages(built, kind: str):
    cfg = (*SMOKE, f"model={kind}", *TINY[kind])
    report = run_stage("train", *cfg, "optim.lr=1e-2")
    assert report["steps"] == 30 and report["params"] > 0
    loaded = load_model_dir("artifacts/model")
    assert loaded.model.config.kind == kind
    assert json.loads(Path("artifacts/model/config.json").read_text())["model"]["kind"] == kind

    metrics = run_stage("evaluate", *cfg)
    vocab = loaded.model.config.vocab_size
    assert metrics["val"]["bits_per_char"] < math.log2(vocab)  # it learned something in 30 steps

    samples = run_stage("sample", *cfg)
    assert set(samples) >= {"greedy", "beam"} and all(samples.values())
    assert Path("reports/samples.md").is_file()
    assert Path("reports/plots/attention.png").stat().st_size > 0  # "no attention" picture: DVC declares the file

    # Serving: the pyfunc model that `publish` logs and `serve` loads, on this model directory.
    served = GptlabTextGenerator()
    served.load_context(SimpleNamespace(artifacts={MODEL_DIR_ARTIFACT: "artifacts/model"}, model_config={}))
    prompt = SMALL_CORPUS[:5]
    for params in ({"decoding": "beam", "num_beams": 2}, {"decoding": "sample", "top_p": 0.9, "seed": 1}):
        (completion,) = served.predict(None, pd.DataFrame({"prompt": [prompt]}), {"max_new_tokens": 6, **params})
        assert completion and set(completion) <= set(SMALL_CORPUS), (params, completion)  # the continuation only


def test_export_attention_and_init_from_refuse_a_recurrent_model_in_one_line(built, capsys):
    cfg = (*SMOKE, "model=lstm", *TINY["lstm"], "trainer.max_steps=2")
    run_stage("train", *cfg)
    capsys.readouterr()
    assert cli_exit_code("export", *cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.kind=lstm" in err[0] and "Hugging Face" in err[0]
    assert cli_exit_code("attention", *cfg, config_name="attention") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no attention maps" in err[0]
    with pytest.raises(ConfigError, match="train.init_from=artifacts/model: a model.kind=lstm model has no pretrained"):
        run_stage("train", *cfg, "train.init_from=artifacts/model")
