"""hydra_entry: Hydra's own command line, the job named by Hydra after the stage's module."""

from __future__ import annotations

import sys

import pytest

from gptlab.cli import hydra_entry

QUIET = ("hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=none", "hydra/hydra_logging=none")


@pytest.fixture
def hydra_main(workdir, monkeypatch):
    """Run ``hydra_entry(task)`` in this process on a given command line; Hydra's globals
    (its config search and the job's HydraConfig) cleared after, so no later test sees them."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    def run(task, *args: str, config_name: str = "config"):
        monkeypatch.setattr(sys, "argv", ["prog", *args, *QUIET])
        hydra_entry(task, config_name=config_name)

    yield run
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


def _job_name_probe(module: str, seen: list):
    def run(cfg):
        from hydra.core.hydra_config import HydraConfig

        seen.append((HydraConfig.get().job.name, cfg.seed))

    run.__module__ = module
    return run


def test_the_job_is_named_after_the_stage_module(hydra_main):
    seen: list = []
    hydra_main(_job_name_probe("gptlab.tokenize", seen), "seed=7")
    assert seen == [("tokenize", 7)]


def test_under_python_m_the_job_is_named_after_the_stage_file(hydra_main):
    # `python -m gptlab.train` runs the module as __main__: Hydra takes the name of its file.
    seen: list = []
    hydra_main(_job_name_probe("__main__", seen))
    assert seen == [("test_app", 1337)]  # this file defines the probe


def test_user_errors_are_one_line_and_exit_2(hydra_main, capsys):
    from gptlab.errors import ConfigError

    def run(cfg):
        raise ConfigError("bad value: pass seed=...")

    with pytest.raises(SystemExit) as info:
        hydra_main(run)
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: bad value: pass seed=...\n"
