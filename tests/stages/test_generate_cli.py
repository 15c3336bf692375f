"""``python -m gptlab.generate``: the three decodings, streaming, interactive mode, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.errors import ConfigError
from gptlab.generate import settings
from tests.conftest import CONF
from tests.evaluation.pipeline_fixtures import strict_char_model_dir, trained_pipeline  # noqa: F401 - fixtures


def generate_cli(cwd: Path, env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gptlab.generate", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def compose_generate(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(config_name="generate", overrides=list(overrides))


@pytest.mark.parametrize("decoding", ["greedy", "sample", "beam"])
def test_each_decoding_prints_the_prompt_and_its_completion(trained_pipeline, subprocess_env, decoding):
    before = sorted(p.name for p in trained_pipeline.iterdir())
    proc = generate_cli(
        trained_pipeline, subprocess_env, "prompt=ROMEO:", "max_new_tokens=12", f"decoding={decoding}", "seed=3"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ROMEO:")
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in trained_pipeline.iterdir()) == before  # no Hydra outputs/ or log file


def test_greedy_is_reproducible_and_several_samples_get_one_block_each(trained_pipeline, subprocess_env):
    args = ("prompt=ROMEO:", "max_new_tokens=8", "decoding=greedy", "num_samples=2")
    first = generate_cli(trained_pipeline, subprocess_env, *args)
    second = generate_cli(trained_pipeline, subprocess_env, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    blocks = first.stdout.split("--- sample ")
    assert blocks[0] == "" and [b[:4] for b in blocks[1:]] == ["1/2 ", "2/2 "]
    assert blocks[1] == blocks[2].replace("2/2", "1/2")  # greedy: the same text twice


def test_interactive_reads_prompts_until_an_empty_line(trained_pipeline, subprocess_env):
    proc = generate_cli(
        trained_pipeline, subprocess_env,
        "interactive=true", "decoding=greedy", "max_new_tokens=4",
        stdin="ROMEO:\nJULIET:\n\nnever read\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ROMEO:")
    assert "\nJULIET:" in proc.stdout and "never read" not in proc.stdout


def test_bad_model_dir_is_one_line_and_exit_code_2(trained_pipeline, subprocess_env):
    proc = generate_cli(trained_pipeline, subprocess_env, "model_dir=no/such/model", "prompt=ROMEO:")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: model directory not found: no/such/model (train one first: dvc repro train)"
    ]


def test_unencodable_characters_are_the_tokenizers_error(strict_char_model_dir, subprocess_env, tmp_path):
    # Hydra needs quotes around characters outside its unquoted-value grammar.
    proc = generate_cli(tmp_path, subprocess_env, f"model_dir={strict_char_model_dir}", "prompt='ROMEO€'")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: character '€' (U+20AC)"), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_long_prompt_is_cropped_with_one_warning(trained_pipeline, subprocess_env):
    long_prompt = "ROMEO " * 20  # 120 characters, the model's context is 32
    proc = generate_cli(
        trained_pipeline, subprocess_env, f"prompt='{long_prompt}'", "max_new_tokens=3", "num_samples=2", "seed=1"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("longer than the model's context") == 1
    assert proc.stdout.count(long_prompt) == 2  # the full prompt is echoed in each block


def test_shorthands_and_section_keys_are_the_same_setting():
    assert settings(compose_generate("decoding=beam", "model_dir=m")).generation.strategy == "beam"
    both = settings(compose_generate("generate.decoding=greedy", "generate.model_dir=m2"))
    assert (both.generation.strategy, both.model_dir) == ("greedy", "m2")
    assert settings(compose_generate()).model_dir == "artifacts/model"  # the pipeline's model


def test_bad_decoding_is_a_config_error():
    with pytest.raises(ConfigError, match="decoding must be one of greedy, sample, beam"):
        settings(compose_generate("decoding=topk"))
