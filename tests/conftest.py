"""Shared fixtures: composed configs, a small corpus, and a scratch working directory."""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# A small play-script corpus: enough text for a tokenizer and a few training windows.
SMALL_CORPUS = (
    "\n\n".join(
        f"ROMEO:\nBut soft, what light through yonder window breaks? {i}\n"
        f"It is the east, and Juliet is the sun.\n\n"
        f"JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? {i}\n"
        f"Deny thy father and refuse thy name."
        for i in range(60)
    )
    + "\n"
)


def compose(*overrides: str, config_name: str = "config"):
    """The composed config, as the stage CLIs see it (``config_name``: conf/<name>.yaml)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


# conf/ owns every default: tests build the config dataclasses from it, not from values
# typed again here (the dataclasses have no defaults for the keys conf/ sets).


@functools.lru_cache(maxsize=None)
def _conf_values(section: str, overrides: tuple[str, ...], config_name: str) -> Any:
    from omegaconf import OmegaConf

    cfg = compose(*overrides, config_name=config_name)
    node = OmegaConf.select(cfg, section, throw_on_missing=False) if section else cfg
    return OmegaConf.to_container(node, resolve=True)


def conf_values(section: str, *overrides: str, config_name: str = "config") -> Any:
    """A section of the composed config (dotted path; ``""``: the top level) as plain values."""
    return copy.deepcopy(_conf_values(section, overrides, config_name))


def conf_section(cls: type, section: str, *overrides: str, config_name: str = "config", **values: Any):
    """``cls`` built by ``to_dataclass`` from a section of the composed config, ``values`` on top.

    ``overrides`` are Hydra overrides (``"model=tiny"``); ``section=""`` takes the top-level
    keys named by ``cls``'s fields (the CLI configs: conf/compare.yaml, conf/attention.yaml).
    """
    from gptlab.config import to_dataclass

    node = conf_values(section, *overrides, config_name=config_name)
    if not section:
        names = {f.name for f in dataclasses.fields(cls)}
        node = {k: v for k, v in node.items() if k in names}
    return to_dataclass(cls, node, section or config_name, **values)


def tokenizer_config(option: str = "char", **values: Any):
    """conf/tokenizer/<option>.yaml as a ``TokenizerConfig``, ``values`` on top."""
    from gptlab.tokenizer import TokenizerConfig

    return conf_section(TokenizerConfig, "tokenizer", f"tokenizer={option}", **values)


def corpus_config(option: str | None = None, **values: Any):
    """conf/data/<option>.yaml (None: the default data option) minus its split, as a
    ``CorpusConfig``, ``values`` on top."""
    from gptlab.config import to_dataclass
    from gptlab.corpus import CorpusConfig

    data = conf_values("data", *([f"data={option}"] if option else []))
    data.pop("split")
    return to_dataclass(CorpusConfig, data, "data", **values)


def model_config(option: str = "tiny", **values: Any):
    """conf/model/<option>.yaml as a ``GPTConfig``, ``values`` (``vocab_size`` at least) on top."""
    from gptlab.model import GPTConfig

    return conf_section(GPTConfig, "model", f"model={option}", **values)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a scratch directory; stages resolve their relative paths against it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPTLAB_CONF_DIR", str(CONF))
    return tmp_path


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "small_corpus.txt"
    path.write_text(SMALL_CORPUS, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the package importable, no analytics."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["DVC_NO_ANALYTICS"] = "1"
    env["GPTLAB_CONF_DIR"] = str(CONF)
    return env


def run_stage(module: str, *overrides: str):
    """Run a stage's plain ``run(cfg)`` in the current directory, as the CLI would."""
    import importlib

    return importlib.import_module(f"gptlab.{module}").run(compose(*overrides))


@pytest.fixture(scope="module")
def built_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where prepare -> tokenize -> build ran on the small corpus (char)."""
    root = tmp_path_factory.mktemp("built")
    (root / "corpus.txt").write_text(SMALL_CORPUS * 4, encoding="utf-8")
    old = Path.cwd()
    os.chdir(root)
    try:
        for stage in ("prepare", "tokenize", "build"):
            run_stage(stage, "data=file", "data.path=corpus.txt")
    finally:
        os.chdir(old)
    return root


def copy_built(src: Path, dst: Path) -> Path:
    """A private copy of a built data directory (stages write into it)."""
    import shutil

    for name in ("data", "artifacts", "reports"):
        if (src / name).exists():
            shutil.copytree(src / name, dst / name, dirs_exist_ok=True)
    return dst
