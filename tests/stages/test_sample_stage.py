"""The sample stage: one block per strategy per prompt, reproducible, logged to MLflow."""

from __future__ import annotations

import json
import re

import pytest

from gptlab import sample
from gptlab.errors import ConfigError
from tests.helpers import compose
from tests.evaluation.pipeline_fixtures import (  # noqa: F401 - fixtures
    base_overrides,
    mlflow_overrides,
    pipeline_copy,
    trained_pipeline,
)

# The default strategies, with beam search shortened to keep the test quick.
FAST = ("logger=none", "sample.max_new_tokens=12", "sample.strategies.beam.max_new_tokens=12")
# For the tests that compare runs: one prompt, and a small attention picture (drawing it
# is most of a run's time).
ONE_PROMPT = (*FAST, 'sample.prompts=["ROMEO:"]', "sample.attention.max_tokens=8")


def strategies() -> list[str]:
    return list(compose("experiment=smoke").sample.strategies)


def test_one_block_per_strategy_per_prompt_with_its_settings(pipeline_copy):
    cfg = compose(*base_overrides(*FAST))
    result = sample.run(cfg)
    text = (pipeline_copy / "reports/samples.md").read_text(encoding="utf-8")

    prompts = list(cfg.sample.prompts)
    names = strategies()
    assert list(result) == names
    sections = re.split(r"^## Prompt \d+: ", text, flags=re.M)[1:]
    assert len(sections) == len(prompts)
    for prompt, section in zip(prompts, sections):
        assert section.startswith(f"`{json.dumps(prompt)}`")
        assert re.findall(r"^### (.+)$", section, flags=re.M) == names
        # Each block is the prompt followed by that strategy's completion.
        assert section.count(f"```text\n{prompt}") == len(names)
    assert "`strategy=sample` · `temperature=0.8`" in text
    assert "`strategy=beam` · `num_beams=4` · `length_penalty=1.0` · `max_new_tokens=12`" in text
    for name in names:
        for p, completion in enumerate(result[name]):
            assert f"{prompts[p]}{completion[0]}" in text
    assert (pipeline_copy / "reports/plots/attention.png").read_bytes()[:4] == b"\x89PNG"


def test_two_runs_write_the_same_bytes(pipeline_copy):
    cfg = compose(*base_overrides(*ONE_PROMPT))
    sample.run(cfg)
    first = (pipeline_copy / "reports/samples.md").read_bytes()
    sample.run(cfg)
    assert (pipeline_copy / "reports/samples.md").read_bytes() == first


def test_a_different_seed_changes_the_sampled_blocks_only(pipeline_copy):
    a = sample.run(compose(*base_overrides(*ONE_PROMPT)))
    b = sample.run(compose(*base_overrides(*ONE_PROMPT, "sample.seed=7")))
    assert a["greedy"] == b["greedy"] and a["beam"] == b["beam"]
    assert any(a[n] != b[n] for n in ("sample", "top_k", "top_p"))


def test_samples_and_attention_picture_are_logged_to_the_training_run(pipeline_copy):
    from mlflow.tracking import MlflowClient

    sample.run(compose(*base_overrides(*ONE_PROMPT, *mlflow_overrides(pipeline_copy))))
    run_id = json.loads((pipeline_copy / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{pipeline_copy / 'mlflow.db'}")
    assert "samples/samples.md" in [a.path for a in client.list_artifacts(run_id, "samples")]
    assert "plots/attention.png" in [a.path for a in client.list_artifacts(run_id, "plots")]


def test_bad_strategy_settings_fail_before_generating(pipeline_copy):
    with pytest.raises(ConfigError, match="temperature"):
        sample.run(compose(*base_overrides(*FAST, "sample.strategies.sample.temperature=0")))
    with pytest.raises(ConfigError, match="unknown key.*sample.strategies.greedy"):
        sample.run(compose(*base_overrides(*FAST, "+sample.strategies.greedy.topk=3")))
