"""Test helpers: composed configs from conf/, a small corpus, a new MLflow store, stages
run in this process and their one-line errors. Fixtures live in conftest.py."""

from __future__ import annotations

import copy
import dataclasses
import functools
import sys
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


_EMPTY_STORE: list[Path] = []


def new_mlflow_store(root: Path, factory: pytest.TempPathFactory) -> str:
    """A new, empty MLflow store at ``root/mlflow.db``; its URI, by absolute path.

    A copy of one made once per session: MLflow makes a new store's tables by running all
    its migrations, about 6 s on the busy CI runner, against a few milliseconds to copy.
    (The template is made in its own folder, so that the artifacts of its ``Default``
    experiment would land there, never in the repository.)
    """
    import shutil

    if not _EMPTY_STORE:
        from mlflow.tracking import MlflowClient

        folder = factory.mktemp("empty-mlflow-store")
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(folder)
            MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
        _EMPTY_STORE.append(folder / "mlflow.db")
    shutil.copyfile(_EMPTY_STORE[0], root / "mlflow.db")
    return f"sqlite:///{root / 'mlflow.db'}"


def run_stage(module: str, *overrides: str):
    """Run a stage's plain ``run(cfg)`` in the current directory, as the CLI would."""
    import importlib

    return importlib.import_module(f"gptlab.{module}").run(compose(*overrides))


def cli_exit_code(module: str, *overrides: str, config_name: str = "config") -> int:
    """``gptlab.<module>.run(cfg)`` in this process, inside ``user_errors()`` as its CLI
    runs it (one ``error:`` line on stderr for a user error); the exit code the CLI would
    end with, 0 when it returns. The CLI itself (argv, Hydra) is each CLI's one subprocess test."""
    import importlib

    from gptlab.cli.app import user_errors

    try:
        with user_errors():
            importlib.import_module(f"gptlab.{module}").run(compose(*overrides, config_name=config_name))
    except SystemExit as exc:
        return exc.code
    return 0


# Hydra's flags that keep an in-process main() from writing outputs/ or touching logging.
HYDRA_QUIET = ("hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none")


def main_exit_code(monkeypatch: pytest.MonkeyPatch, module: str, *args: str) -> int:
    """``python -m gptlab.<module> ARGS`` in this process: the module's ``main()`` on that
    command line (Hydra parses it, reports its own errors, and knows the overrides, which
    ``compose`` does not tell); the exit code, 0 when it returns. Hydra's globals are
    cleared after, so that no later test sees this command line."""
    import importlib

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(sys, "argv", [f"{module}.py", *args, *HYDRA_QUIET])
    try:
        importlib.import_module(f"gptlab.{module}").main()
    except SystemExit as exc:
        return exc.code
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return 0


def one_error_line(stderr: str, *words: str) -> str:
    """The one ``error:`` line of ``stderr`` (the last thing on it, no traceback before), which holds ``words``."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and stderr.rstrip().splitlines()[-1] == lines[0], stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def copy_built(src: Path, dst: Path) -> Path:
    """A private copy of a built data directory (stages write into it)."""
    import shutil

    for name in ("data", "artifacts", "reports"):
        if (src / name).exists():
            shutil.copytree(src / name, dst / name, dirs_exist_ok=True)
    return dst
