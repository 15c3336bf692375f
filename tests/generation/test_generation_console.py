"""gptlab.generation.console: the ``generate:`` settings, the block writer and the streaming."""

from __future__ import annotations

import io

import pytest
from omegaconf import OmegaConf

from gptlab.checkpoint import load_model_dir
from gptlab.errors import ConfigError, DataError
from gptlab.generation import GenerationConfig
from gptlab.generation.console import SECTION_KEYS, BlockWriter, GenerateSettings, generate_blocks, read_prompt, unescape
from tests.helpers import CONF, conf_values


def section(**values) -> dict:
    """conf/config.yaml's `generate:` section (it owns the defaults), ``values`` on top."""
    return {**conf_values("generate"), **values}
from tests.evaluation.pipeline_fixtures import trained_pipeline  # noqa: F401 - fixture


def test_completions_stream_piece_by_piece(trained_pipeline):
    class Recorder(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []
            self.flushes = 0

        def write(self, s: str) -> int:
            self.writes.append(s)
            return super().write(s)

        def flush(self) -> None:
            self.flushes += 1

    loaded = load_model_dir(trained_pipeline / "artifacts/model")
    out = Recorder()
    settings = GenerateSettings.from_section(section(decoding="greedy", max_new_tokens=10))
    texts = generate_blocks(loaded, "ROMEO:", settings, out)
    block = "ROMEO:" + texts[0]
    assert out.getvalue() == (block if block.endswith("\n") else block + "\n")  # a block ends its line
    assert out.writes[0] == "ROMEO:"
    assert len(out.writes) >= 3  # the prompt, then the completion in several pieces
    assert out.flushes == len(out.writes)  # each piece is flushed as it is written


def test_unseen_prompt_characters_warn_once_naming_them(trained_pipeline, caplog):
    loaded = load_model_dir(trained_pipeline / "artifacts/model")
    assert loaded.tokenizer.unk_policy == "replace"  # conf/tokenizer/char.yaml's default
    settings = GenerateSettings.from_section(section(decoding="sample", max_new_tokens=3, num_samples=2, seed=0))
    generate_blocks(loaded, "ROMEO€ ☃€:", settings, io.StringIO())
    warnings = [r.getMessage() for r in caplog.records if "not in the tokenizer's vocabulary" in r.getMessage()]
    assert warnings == ["the prompt's characters '€', '☃' are not in the tokenizer's vocabulary: each is read as <unk>"]
    caplog.clear()
    generate_blocks(loaded, "ROMEO:", settings, io.StringIO())
    assert not [r for r in caplog.records if "vocabulary" in r.getMessage()]


def test_prompt_file_is_read_as_is_and_dash_is_stdin(tmp_path):
    text = "O Romeo, Romeo! wherefore (a=b) isn't\\n ${x}\n"
    (tmp_path / "p.txt").write_text(text, encoding="utf-8")
    from_file = GenerateSettings.from_section(section(prompt_file=str(tmp_path / "p.txt"), prompt="ignored"))
    assert read_prompt(from_file, io.StringIO("not read")) == text  # no escapes, no interpolation
    assert read_prompt(GenerateSettings.from_section(section(prompt_file="-")), io.StringIO(text)) == text
    assert read_prompt(GenerateSettings.from_section(section(prompt="A\\nB")), io.StringIO()) == "A\nB"
    missing = GenerateSettings.from_section(section(prompt_file=str(tmp_path / "none.txt")))
    with pytest.raises(DataError, match=r"cannot read prompt_file .*none.txt: No such file"):
        read_prompt(missing, io.StringIO())
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match="cannot read prompt_file .*latin1.txt: 'utf-8' codec"):
        read_prompt(GenerateSettings.from_section(section(prompt_file=str(tmp_path / "latin1.txt"))), io.StringIO())


def test_blocks_have_headers_only_for_several_samples_and_end_their_lines():
    out = io.StringIO()
    blocks = BlockWriter("P:", 2, out)
    blocks.piece(0, "ab")
    blocks.piece(1, "cd\n")
    blocks.finish()
    assert out.getvalue() == "--- sample 1/2 ---\nP:ab\n--- sample 2/2 ---\nP:cd\n"
    single = io.StringIO()
    BlockWriter("P:", 1, single).finish()  # a block without text is still shown
    assert single.getvalue() == "P:\n"


def test_prompt_escapes():
    assert unescape(r"ROMEO:\nBut\tsoft \\n") == "ROMEO:\nBut\tsoft \\n"


def test_decoding_is_the_generation_configs_strategy():
    s = GenerateSettings.from_section(section(decoding="beam", num_beams=8, num_samples=3, prompt=123))
    assert s.generation == GenerationConfig(strategy="beam", num_beams=8, seed=None)
    assert (s.num_samples, s.prompt) == (3, "123")  # a prompt is text, whatever Hydra parsed
    assert GenerateSettings.from_section(section(prompt=None)).prompt == ""


def test_sample_i_is_seeded_seed_plus_i():
    s = GenerateSettings.from_section(section(seed=5, num_samples=3))
    assert [s.sample_config(i).seed for i in range(3)] == [5, 6, 7]
    assert s.sample_config(0, 3).num_samples == 3
    assert GenerateSettings.from_section(section()).sample_config(2).seed is None  # seed=null: new text every run


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"decoding": "topk"}, "decoding must be one of greedy, sample, beam, got 'topk'"),
        ({"temperature": 0}, "temperature"),
        ({"num_samples": 0}, "num_samples"),
        ({"decoding": "beam", "num_beams": 2, "num_samples": 3}, "num_samples"),
        ({"interactive": "maybe"}, "interactive.*true or false"),  # OmegaConf reads "yes" as true
        ({"interactive": True, "prompt_file": "p.txt"}, "prompt_file is one prompt and interactive=true"),
        ({"stop_strings": ["x"]}, "unknown key.*'generate': stop_strings; valid keys: cache_window, decoding"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(values, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        GenerateSettings.from_section(section(**values))
    assert "\n" not in str(info.value)


def test_a_missing_key_is_an_error_not_a_default_in_code():
    values = section()
    del values["seed"]
    with pytest.raises(ConfigError, match="missing key.*'generate': seed"):
        GenerateSettings.from_section(values)


def test_section_keys_are_the_shipped_generate_section_and_its_shorthands():
    main = OmegaConf.load(CONF / "config.yaml")
    shorthands = OmegaConf.load(CONF / "generate.yaml")
    assert sorted(main.generate) == sorted(SECTION_KEYS)
    assert sorted(k for k in shorthands if k not in ("defaults", "hydra")) == sorted(SECTION_KEYS)
