"""Shared fixtures: composed configs, a small corpus, and a scratch working directory."""

from __future__ import annotations

import os
from pathlib import Path

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


def compose(*overrides: str):
    """The composed config, as the stage CLIs see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


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
