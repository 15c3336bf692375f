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
