"""Every leaf of the composed config, given a bad value, is one line naming its key.

For each leaf of conf/config.yaml and of each tool config's own keys: a value of the wrong
type, a missing value (``???``) and, where the key has a range or a set of choices, a value
outside it. Each goes to the settings builder of the stage that reads the key, in this
process: the function its ``run(cfg)`` calls first, or ``run(cfg)`` itself where that
checks every setting before it does any work. Then one CLI run per failure family: exit
2, one ``error:`` line, no MLflow run left RUNNING, nothing in the train directory.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from omegaconf import OmegaConf

from gptlab.errors import ConfigError
from tests.helpers import CONF, REPO, compose

# The built dataset's corpus (conftest.built_data): the train stage's lineage check then passes.
DATA = ("data=file", "data.path=corpus.txt")


def _stage(module: str, function: str = "run") -> Callable[[Any], Any]:
    return lambda cfg: getattr(importlib.import_module(f"gptlab.{module}"), function)(cfg)


# Section -> the stage that reads it; the longest matching prefix wins. train's builder
# needs the built dataset's meta.json, the others fail on their first bad setting in an
# empty directory.
READERS: dict[str, Callable[[Any], Any]] = {
    "paths": _stage("tokenize"),
    "data": _stage("prepare"),
    "data.split": _stage("tokenize"),
    "build": _stage("build"),
    "tokenizer": _stage("tokenize"),
    "model": _stage("training.settings", "fit_settings"),
    "trainer": _stage("training.settings", "fit_settings"),
    "optim": _stage("training.settings", "fit_settings"),
    "train": _stage("training.settings", "fit_settings"),
    "logger": _stage("training.settings", "fit_settings"),
    "evaluate": _stage("evaluate"),
    "export": _stage("export"),
    "sample": _stage("sample"),
    "generate": _stage("generate", "settings"),
    "seed": _stage("training.settings", "fit_settings"),
}
NEEDS_DATASET = {"model", "trainer", "optim", "train", "logger", "seed"}
# Tool config -> the builder of its own top-level keys.
TOOLS: dict[str, Callable[[Any], Any]] = {
    "attention": _stage("attention"),
    "compare": _stage("compare", "settings"),
    "generate": _stage("generate", "settings"),
    "serve": _stage("serve", "settings"),
    "team": _stage("team.__main__", "settings"),
    "track": _stage("track", "settings"),
    "ui": _stage("ui", "settings"),
}
# Leaves no dataclass receives, with the reason.
UNCHECKED = {
    "optimized_metric": "a key of reports/train.json, checked once the sweep job has a report",
}
# Keys whose type is wider than their default's.
WRONG_TYPE = {"trainer.devices": 1.5}  # int | str: "ten" would be a device string
# A value outside the range or the choices of a key that has one.
OUT_OF_RANGE: dict[str, Any] = {
    "data.source": "ftp",
    "data.sha256": "abc",
    "data.timeout_s": 0.0,
    "data.split.train": 1.5,
    "data.split.val": 0.0,
    "tokenizer.kind": "wordpiece",
    "tokenizer.vocab_size": 0,
    "tokenizer.min_frequency": 0,
    "tokenizer.unk_policy": "ignore",
    "model.kind": "transformer",
    "model.context_size": 0,
    "model.n_layer": 0,
    "model.n_head": 0,
    "model.n_embd": 0,
    "model.dropout": 1.0,
    "model.pos_encoding": "alibi",
    "model.activation": "swish",
    "model.norm": "batchnorm",
    "model.rope_base": 0.0,
    "model.ffn_mult": 0,
    "trainer.precision": "15-true",
    "trainer.max_steps": 0,
    "trainer.val_check_interval": 0,
    "trainer.limit_val_batches": 0,
    "trainer.accumulate_grad_batches": 0,
    "trainer.num_nodes": 0,
    "optim.lr": 0.0,
    "optim.min_lr": 1.0,
    "optim.warmup_steps": -1,
    "optim.betas": [0.9],
    "optim.fused": "sometimes",
    "train.batch_size": 0,
    "train.lora.r": 0,
    "train.lora.alpha": 0.0,
    "train.lora.dropout": 1.0,
    "train.lora.target_modules": [],
    "train.lora.model_dir": "both",
    "evaluate.batch_size": 0,
    "evaluate.stride": 0,
    "evaluate.splits": ["train"],
    "sample.strategies.sample.temperature": 0.0,
    "sample.strategies.top_k.top_k": 0,
    "sample.strategies.top_p.top_p": 1.5,
    "sample.strategies.beam.max_new_tokens": 0,
    "generate.max_new_tokens": 0,
    "generate.temperature": 0.0,
    "generate.top_p": 2.0,
    "generate.num_beams": 0,
    "generate.num_samples": 0,
    "generate.cache_window": "sliding",
    "generate.repetition_penalty": 0.0,
}


def _leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _wrong_type(key: str, value: Any) -> Any:
    """A value of another type than ``value``'s (a mapping where text, a list or null goes)."""
    if key in WRONG_TYPE:
        return WRONG_TYPE[key]
    if isinstance(value, bool):
        return "maybe"
    if isinstance(value, int):
        return "ten"
    if isinstance(value, float):
        return "lots"
    return {"a": 1}


def _reader(key: str) -> tuple[str, Callable[[Any], Any]]:
    section = max((s for s in READERS if key == s or key.startswith(s + ".")), key=len)
    return section, READERS[section]


def _cases() -> list[Any]:
    cases = []
    for key, value in _leaves(OmegaConf.to_container(compose(*DATA))):
        if key in UNCHECKED:
            continue
        cases.append(pytest.param("config", key, _wrong_type(key, value), id=f"config:{key}:type"))
        if key in OUT_OF_RANGE:
            cases.append(pytest.param("config", key, OUT_OF_RANGE[key], id=f"config:{key}:range"))
    for tool in TOOLS:
        own = OmegaConf.load(CONF / f"{tool}.yaml")
        values = OmegaConf.to_container(compose(*DATA, config_name=tool))
        for key in own:
            if key not in ("defaults", "hydra"):
                cases.append(pytest.param(tool, key, _wrong_type(key, values[key]), id=f"{tool}:{key}:type"))
    # The values conf/ leaves to the command line (`???`), left missing.
    for options in [(), *((f"data={p.stem}",) for p in sorted((CONF / "data").glob("*.yaml")))]:
        for key, value in _leaves(OmegaConf.to_container(compose(*options))):
            if value == "???":
                cases.append(pytest.param(options, key, "???", id=f"config:{' '.join(options)}:{key}:missing"))
    return cases


@pytest.fixture(scope="module")
def composed() -> dict[Any, Any]:
    return {name: compose(*DATA, config_name=name) for name in ("config", *TOOLS)}


def _config(composed: dict[Any, Any], config_name: Any, key: str) -> Any:
    """A copy of the composed config: a config name's, or (a tuple) the main one with these
    overrides. The generate CLI composes conf/generate.yaml, so `generate.*` is tried there."""
    if isinstance(config_name, tuple):
        return compose(*config_name)
    if config_name == "config" and key.startswith("generate."):
        config_name = "generate"
    return copy.deepcopy(composed[config_name])


def test_out_of_range_keys_are_leaves_of_the_config():
    leaves = {key for key, _ in _leaves(OmegaConf.to_container(compose(*DATA)))}
    assert set(OUT_OF_RANGE) <= leaves, sorted(set(OUT_OF_RANGE) - leaves)


@pytest.mark.parametrize(("config_name", "key", "bad"), _cases())
def test_a_bad_value_is_one_line_naming_its_key(config_name, key, bad, composed, built_data, tmp_path, monkeypatch):
    cfg = _config(composed, config_name, key)
    OmegaConf.update(cfg, key, bad, force_add=True, merge=False)
    if not isinstance(config_name, str) or config_name == "config":
        section, build = _reader(key)
        where = built_data if section.split(".")[0] in NEEDS_DATASET else tmp_path
    else:
        section, build, where = config_name, TOOLS[config_name], tmp_path
    monkeypatch.chdir(where)
    with pytest.raises(ConfigError) as info:
        build(cfg)
    message = str(info.value)
    assert "\n" not in message
    leaf = key.rpartition(".")[2]
    parent = key.rpartition(".")[0] or section
    # The full key, or its name and the section it sits in (a range rule of a dataclass
    # that several sections share names the field and the section).
    assert key in message or (leaf in message and parent in message), message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("trainer.max_steps", "ten", "trainer.max_steps: 'ten' is not an int"),
        ("trainer.val_check_interval", "often", "trainer.val_check_interval: 'often' is not an int"),
        ("trainer.gradient_clip_val", "x", "trainer.gradient_clip_val: 'x' is not a number or null"),
        ("optim.weight_decay", "lots", "optim.weight_decay: 'lots' is not a number"),
        ("optim.lr", "fast", "optim.lr: 'fast' is not a number"),
        ("optim.betas", 0.9, "optim.betas: 0.9 is not a list"),
        ("optim.betas", [0.9, "x"], r"optim.betas\[1\]: 'x' is not a number"),
        ("train.lora.rank", 8, r"unknown key\(s\) in 'train.lora': rank; valid keys: alpha, dropout"),
    ],
)
def test_the_reported_train_values_read_so(key, value, message, built_data, monkeypatch):
    from gptlab.training.settings import fit_settings

    cfg = compose(*DATA)
    OmegaConf.update(cfg, key, value, force_add=True, merge=False)
    monkeypatch.chdir(built_data)
    with pytest.raises(ConfigError, match=f"^{message}"):
        fit_settings(cfg)


# --- the CLI: one run per failure family ---------------------------------------------------


@pytest.mark.parametrize(
    ("module", "overrides", "words"),
    [
        # a ValueError of 21 lines before
        ("train", ["trainer.max_steps=ten"], ["trainer.max_steps", "'ten' is not an int"]),
        # 26 lines, and an MLflow run left RUNNING
        ("train", ["trainer.gradient_clip_val=x"], ["trainer.gradient_clip_val", "not a number or null"]),
        # training started, then the fused AdamW's traceback
        ("train", ["optim.weight_decay=lots"], ["optim.weight_decay", "not a number"]),
        # one line, but not naming the key
        ("train", ["optim.lr=fast"], ["optim.lr", "not a number"]),
        # MissingMandatoryValue's traceback
        ("prepare", ["data=file"], ["data.path"]),
    ],
    ids=["max_steps", "gradient_clip_val", "weight_decay", "lr", "data_path"],
)
def test_the_cli_refuses_in_one_line_and_leaves_nothing(module, overrides, words, tmp_path, subprocess_env):
    db = tmp_path / "mlflow.db"
    train_dir = tmp_path / "train"
    args = [
        *overrides,
        f"logger.tracking_uri=sqlite:///{db}",
        f"paths.train_dir={train_dir}",
        f"paths.raw_dir={tmp_path / 'raw'}",
        "hydra.run.dir=.",
        "hydra.output_subdir=null",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", f"gptlab.{module}", *args],
        cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert not train_dir.exists() and not (tmp_path / "raw").exists()
    assert not _running_runs(db)


def _running_runs(db: Path) -> list[str]:
    """Run ids left RUNNING in the store (none when no store was made)."""
    import sqlite3

    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [row[0] for row in con.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")]

