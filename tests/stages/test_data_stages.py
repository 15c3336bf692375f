"""prepare -> tokenize -> build, called as the CLIs call them, and their user errors."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
import yaml

from gptlab.errors import DataError, TokenizerError
from tests.helpers import REPO, SMALL_CORPUS, cli_exit_code, conf_section, main_exit_code, one_error_line, run_stage


def test_three_stages_write_their_declared_outputs(workdir, small_corpus):
    meta = run_stage("prepare", "data=file", f"data.path={small_corpus}")
    assert meta["characters"] == len(SMALL_CORPUS)
    stats = run_stage("tokenize", "data=file", f"data.path={small_corpus}")
    assert stats["kind"] == "char" and stats["chars_per_token"] == 1.0
    built = run_stage("build", "data=file", f"data.path={small_corpus}")

    assert built["dtype"] == "uint16"
    for split in ("train", "val", "test"):
        arr = np.memmap(workdir / f"data/processed/{split}.bin", dtype=np.uint16, mode="r")
        assert len(arr) == built["tokens"][split] == built["characters"][split]
    assert sum(built["characters"].values()) == len(SMALL_CORPUS)
    assert json.loads((workdir / "reports/tokenizer.json").read_text())["vocab_size"] == stats["vocab_size"]


def test_tokenize_shows_progress_over_the_training_split(workdir, small_corpus, capsys):
    run_stage("prepare", "data=file", f"data.path={small_corpus}")
    capsys.readouterr()
    run_stage("tokenize", "data=file", f"data.path={small_corpus}", "tokenizer=bpe", "tokenizer.vocab_size=300")
    err = capsys.readouterr().err
    n_train = int(len(SMALL_CORPUS) * 0.9)  # the default split's training share
    assert "tokenize: 100%" in err and f"{n_train / 1000:.1f}k/{n_train / 1000:.1f}k" in err


def test_build_decodes_back_to_the_corpus(workdir, small_corpus):
    from gptlab.tokenizer import load_tokenizer

    for stage in ("prepare", "tokenize", "build"):
        run_stage(stage, "data=file", f"data.path={small_corpus}", "tokenizer=bpe", "tokenizer.vocab_size=300")
    tok = load_tokenizer(workdir / "artifacts/tokenizer/tokenizer.json")
    text = "".join(
        tok.decode(np.fromfile(workdir / f"data/processed/{s}.bin", dtype=np.uint16).tolist())
        for s in ("train", "val", "test")
    )
    assert text == SMALL_CORPUS


def test_nanogpt_split_preset(workdir, small_corpus):
    run_stage("prepare", "data=file", f"data.path={small_corpus}")
    run_stage("tokenize", "data=file", f"data.path={small_corpus}")
    built = run_stage("build", "data=file", f"data.path={small_corpus}", "data.split.val=0.1", "data.split.test=0.0")
    n = len(SMALL_CORPUS)
    assert built["characters"] == {"train": int(n * 0.9), "val": n - int(n * 0.9), "test": 0}


def test_missing_corpus_is_a_data_error_and_writes_nothing(workdir):
    with pytest.raises(DataError, match="nope.txt"):
        run_stage("prepare", "data=file", "data.path=nope.txt")
    assert not (workdir / "data").exists()


def test_tokenize_before_prepare_says_what_to_run(workdir):
    with pytest.raises(DataError, match="prepare"):
        run_stage("tokenize")


def test_build_before_tokenize_says_what_to_run(workdir, small_corpus):
    run_stage("prepare", "data=file", f"data.path={small_corpus}")
    with pytest.raises(TokenizerError, match="tokenize"):
        run_stage("build")


def test_large_vocab_switches_to_uint32(tmp_path, small_corpus):
    from gptlab.dataset import BuildConfig, SplitConfig, build_dataset

    class WideTokenizer:
        """Maps characters to ids above 65535, so uint16 cannot hold them."""

        vocab_size = 70_000
        kind = "fake"

        def encode_array(self, texts):
            return np.concatenate([np.frombuffer(t.encode("utf-32-le"), np.uint32).astype(np.int64) + 65_536 for t in texts])

    split, build = conf_section(SplitConfig, "data.split"), conf_section(BuildConfig, "build")
    meta = build_dataset(small_corpus, len(SMALL_CORPUS), "c", WideTokenizer(), "t", split, tmp_path, build, progress=False)
    assert meta.dtype == "uint32"
    ids = np.fromfile(tmp_path / "train.bin", dtype=np.uint32)
    assert ids.min() >= 65_536 and len(ids) == meta.tokens["train"]


def _cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_user_error_is_one_line_and_exit_2(workdir, capsys):
    assert cli_exit_code("prepare", "data=file", "data.path=missing.txt") == 2
    one_error_line(capsys.readouterr().err, "missing.txt")
    assert not (workdir / "data").exists()


def test_cli_unknown_group_option_lists_the_valid_ones(workdir, monkeypatch, capsys):
    assert main_exit_code(monkeypatch, "tokenize", "tokenizer=wordpiece") != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "bpe" in err and "char" in err


def test_cli_unknown_key_is_refused(workdir, monkeypatch, capsys):
    assert main_exit_code(monkeypatch, "tokenize", "tokenizer.vocab_sise=300") != 0
    err = capsys.readouterr().err
    assert "vocab_sise" in err and "Traceback" not in err


def test_cli_runs_on_a_params_file(tmp_path, subprocess_env, small_corpus):
    from gptlab.params import compose_params
    from tests.helpers import CONF

    (tmp_path / "params.yaml").write_text(compose_params(["data=file", f"data.path={small_corpus}"], config_dir=CONF))
    # dvc.yaml's own Hydra flags: params.yaml as the primary config, nothing written but the outputs
    (with_params,) = [v["with_params"] for v in yaml.safe_load((REPO / "dvc.yaml").read_text())["vars"] if "with_params" in v]
    res = _cli(["gptlab.prepare", *shlex.split(with_params)], tmp_path, subprocess_env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "data/raw/corpus.txt").read_text() == SMALL_CORPUS
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".hydra").exists()
    assert not list(tmp_path.glob("*.log"))
