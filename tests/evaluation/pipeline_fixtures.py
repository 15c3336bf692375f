"""Tiny pipelines built by the real stages, once per test session, shared by the
evaluation and stage tests.

Test modules import the fixtures they use (``from tests.evaluation.pipeline_fixtures
import trained_pipeline``). pytest registers an imported fixture once per importing
module, so the pipelines are cached here, at module level, to be built once however
many modules use them. Tests that write into a pipeline get a copy (``pipeline_copy``).
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

from tests.helpers import CONF, SMALL_CORPUS, compose, model_config, new_mlflow_store, tokenizer_config

# A few steps are enough: the tests check plumbing and arithmetic, not quality.
TRAIN_OVERRIDES = (
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.log_every_n_steps=1",
    "train.sample_every_n_val=0",
)

_BUILT: dict[str, Path] = {}


def base_overrides(*extra: str) -> list[str]:
    """The overrides every stage of a test pipeline runs with (cwd = the pipeline dir)."""
    return ["experiment=smoke", "data=file", "data.path=corpus.txt", *extra]


def mlflow_overrides(root: Path) -> list[str]:
    """Tracking on, in ``root/mlflow.db``, by absolute path: MLflow keeps one database
    engine per URI string per process, so a relative URI would stick to the first
    directory it was opened in. System metrics off: no test of these pipelines reads
    them (tests/tracking does), and the sampler thread only costs time."""
    return [
        "logger=mlflow",
        f"logger.tracking_uri=sqlite:///{root / 'mlflow.db'}",
        "logger.system_metrics_interval_s=0",
    ]


def run_stages(root: Path, stages: list[str], overrides: list[str]) -> None:
    """Run ``gptlab.<stage>.run(cfg)`` for each stage, in ``root``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("GPTLAB_CONF_DIR", str(CONF))
        cfg = compose(*overrides)
        for stage in stages:
            importlib.import_module(f"gptlab.{stage}").run(cfg)


def _new_root(factory: pytest.TempPathFactory, name: str) -> Path:
    root = factory.mktemp(name)
    (root / "corpus.txt").write_text(SMALL_CORPUS, encoding="utf-8")
    return root


def save_random_model(root: Path, tokenizer_json: Path, out: str = "artifacts/model", context_size: int = 16) -> Path:
    """An untrained model directory for ``tokenizer_json`` (scoring does not need training)."""
    import torch

    from gptlab.checkpoint import save_model_dir
    from gptlab.model import GPT
    from gptlab.tokenizer import load_tokenizer

    torch.manual_seed(0)
    vocab = load_tokenizer(tokenizer_json).vocab_size
    model = GPT(model_config("tiny", vocab_size=vocab, context_size=context_size, n_embd=16))
    return save_model_dir(model, tokenizer_json, root / out)


def char_trained(factory: pytest.TempPathFactory) -> Path:
    """prepare -> tokenize (char) -> build -> train, MLflow tracking in ``root/mlflow.db``."""
    if "char_trained" not in _BUILT:
        root = _new_root(factory, "char_trained")
        new_mlflow_store(root, factory)
        run_stages(
            root,
            ["prepare", "tokenize", "build", "train"],
            base_overrides(*mlflow_overrides(root), *TRAIN_OVERRIDES),
        )
        _BUILT["char_trained"] = root
    return _BUILT["char_trained"]


def bpe_untrained(factory: pytest.TempPathFactory) -> Path:
    """prepare -> tokenize (BPE) -> build, plus an untrained model directory."""
    if "bpe_untrained" not in _BUILT:
        root = _new_root(factory, "bpe_untrained")
        run_stages(
            root,
            ["prepare", "tokenize", "build"],
            base_overrides("tokenizer=bpe", "tokenizer.vocab_size=300", "tokenizer.min_frequency=1"),
        )
        save_random_model(root, root / "artifacts/tokenizer/tokenizer.json")
        _BUILT["bpe_untrained"] = root
    return _BUILT["bpe_untrained"]


def strict_char_model(factory: pytest.TempPathFactory) -> Path:
    """An untrained model whose char tokenizer refuses unseen characters (unk_policy=error)."""
    if "strict_char" not in _BUILT:
        from gptlab.tokenizer import train_tokenizer

        root = _new_root(factory, "strict_char")
        tok = root / "tokenizer.json"
        train_tokenizer(tokenizer_config("char", unk_policy="error"), SMALL_CORPUS).save(tok)
        save_random_model(root, tok, out="model")
        _BUILT["strict_char"] = root
    return _BUILT["strict_char"]


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: a trained char pipeline (copy it with ``pipeline_copy`` to write)."""
    return char_trained(tmp_path_factory)


@pytest.fixture(scope="session")
def bpe_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bpe_untrained(tmp_path_factory)


@pytest.fixture(scope="session")
def strict_char_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return strict_char_model(tmp_path_factory) / "model"


@pytest.fixture
def pipeline_copy(trained_pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained pipeline, made the working directory."""
    root = tmp_path / "pipeline"
    shutil.copytree(trained_pipeline, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("GPTLAB_CONF_DIR", str(CONF))
    return root
