"""``python -m gptlab.generate``: the three decodings, streaming, interactive mode, errors.

One test runs the CLI in a subprocess (argv -> Hydra -> stdout, exit code, nothing
written); the rest call ``gptlab.generate.run(cfg)`` in this process, inside
``user_errors()`` as the CLI does where the one-line error and its exit code are tested.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from gptlab.cli.app import user_errors
from gptlab.errors import ConfigError
from gptlab.generate import run, settings
from tests.helpers import compose
from tests.evaluation.pipeline_fixtures import strict_char_model_dir, trained_pipeline  # noqa: F401 - fixtures


def compose_generate(*overrides: str):
    return compose(*overrides, config_name="generate")


@pytest.fixture
def in_pipeline(trained_pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained pipeline as the working directory (generate only reads it)."""
    monkeypatch.chdir(trained_pipeline)
    return trained_pipeline


def generate(capsys: pytest.CaptureFixture, *overrides: str) -> str:
    """``run(cfg)`` as the CLI calls it; what it printed to stdout."""
    capsys.readouterr()
    with user_errors():
        run(compose_generate(*overrides))
    return capsys.readouterr().out


def generate_error(capsys: pytest.CaptureFixture, *overrides: str) -> tuple[int, str, str]:
    """A run that fails: its exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        generate(capsys, *overrides)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_prints_the_prompt_and_its_completion_and_writes_nothing(trained_pipeline, subprocess_env):
    before = sorted(p.name for p in trained_pipeline.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "gptlab.generate", "prompt=ROMEO:", "max_new_tokens=12", "decoding=greedy"],
        cwd=trained_pipeline, env=subprocess_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ROMEO:") and len(proc.stdout) > len("ROMEO:")
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in trained_pipeline.iterdir()) == before  # no Hydra outputs/ or log file


@pytest.mark.parametrize("decoding", ["greedy", "sample", "beam"])
def test_each_decoding_prints_the_prompt_and_its_completion(in_pipeline, capsys, decoding):
    out = generate(capsys, "prompt=ROMEO:", "max_new_tokens=12", f"decoding={decoding}", "seed=3")
    assert out.startswith("ROMEO:") and len(out) > len("ROMEO:")


def test_greedy_is_reproducible_and_several_samples_get_one_block_each(in_pipeline, capsys):
    args = ("prompt=ROMEO:", "max_new_tokens=8", "decoding=greedy", "num_samples=2")
    first = generate(capsys, *args)
    assert generate(capsys, *args) == first
    blocks = first.split("--- sample ")
    assert blocks[0] == "" and [b[:4] for b in blocks[1:]] == ["1/2 ", "2/2 "]
    assert blocks[1] == blocks[2].replace("2/2", "1/2")  # greedy: the same text twice


def test_interactive_reads_prompts_until_an_empty_line(in_pipeline, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("ROMEO:\nJULIET:\n\nnever read\n"))
    out = generate(capsys, "interactive=true", "decoding=greedy", "max_new_tokens=4")
    assert out.startswith("ROMEO:")
    assert "\nJULIET:" in out and "never read" not in out


def test_bad_model_dir_is_one_line_and_exit_code_2(in_pipeline, capsys):
    code, _, err = generate_error(capsys, "model_dir=no/such/model", "prompt=ROMEO:")
    assert code == 2
    assert err.strip().splitlines() == [
        "error: model directory not found: no/such/model (train one first: dvc repro train)"
    ]


def test_unencodable_characters_are_the_tokenizers_error(strict_char_model_dir, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Hydra needs quotes around characters outside its unquoted-value grammar.
    code, out, err = generate_error(capsys, f"model_dir={strict_char_model_dir}", "prompt='ROMEO€'")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: character '€' (U+20AC)"), err
    assert out == ""


def test_long_prompt_is_cropped_with_one_warning(in_pipeline, capsys, caplog):
    long_prompt = "ROMEO " * 20  # 120 characters, the model's context is 32
    out = generate(capsys, f"prompt='{long_prompt}'", "max_new_tokens=3", "num_samples=2", "seed=1")
    assert [r.levelname for r in caplog.records if "longer than the model's context" in r.getMessage()] == ["WARNING"]
    assert out.count(long_prompt) == 2  # the full prompt is echoed in each block


def test_shorthands_and_section_keys_are_the_same_setting():
    assert settings(compose_generate("decoding=beam", "model_dir=m")).generation.strategy == "beam"
    both = settings(compose_generate("generate.decoding=greedy", "generate.model_dir=m2"))
    assert (both.generation.strategy, both.model_dir) == ("greedy", "m2")
    assert settings(compose_generate()).model_dir == "artifacts/model"  # the pipeline's model


def test_bad_decoding_is_a_config_error():
    with pytest.raises(ConfigError, match="decoding must be one of greedy, sample, beam"):
        settings(compose_generate("decoding=topk"))


def test_any_prompt_text_by_hydra_quotes_or_by_prompt_file(in_pipeline, capsys, monkeypatch, tmp_path):
    text = "O Romeo, Romeo! (a=b) isn't"  # each of , ! ( = ' fails unquoted in Hydra's grammar
    args = ("max_new_tokens=4", "decoding=greedy")
    quoted = generate(capsys, f'prompt="{text}"', *args)
    (tmp_path / "p.txt").write_text(text, encoding="utf-8")
    from_file = generate(capsys, f"prompt_file={tmp_path / 'p.txt'}", *args)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    from_stdin = generate(capsys, "prompt_file=-", *args)
    assert quoted.startswith(text) and len(quoted) > len(text) + 1
    assert from_file == quoted and from_stdin == quoted


def test_a_missing_prompt_file_is_one_line_and_exit_code_2(in_pipeline, capsys):
    code, out, err = generate_error(capsys, "prompt_file=no/such.txt")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["error: cannot read prompt_file no/such.txt: No such file or directory"]


def test_unseen_characters_under_unk_policy_replace_warn_once(in_pipeline, capsys, caplog):
    out = generate(capsys, "prompt='ROMEO€'", "max_new_tokens=3", "num_samples=2", "seed=1")
    assert [r.getMessage() for r in caplog.records if "vocabulary" in r.getMessage()] == [
        "the prompt's characters '€' are not in the tokenizer's vocabulary: each is read as <unk>"
    ]
    assert out.count("ROMEO€") == 2  # generated all the same, the prompt echoed as given
