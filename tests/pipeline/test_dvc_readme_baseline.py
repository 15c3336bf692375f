"""The README's fine-tuning example in DVC, as written, on the smoke preset: the pretrain
committed as the baseline, then ``dvc exp show`` with the README's flags shows it and the
``finetune`` experiment side by side, in columns a person can read."""

from __future__ import annotations

import csv
import io
import re
import shlex
import subprocess

import pytest

from tests.helpers import REPO, new_mlflow_store
from tests.pipeline.test_dvc_pipeline import _params, _sh, repo_copy  # noqa: F401 - repo_copy is a fixture

# Shorter than the preset's 30 steps, for the fine-tune too (its preset trains 500).
FAST = ("-S", "trainer.max_steps=10", "-S", "trainer.val_check_interval=5")


def readme_commands() -> list[str]:
    """The commands of the README's block that starts with the pretrain's `dvc repro`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```bash\n(dvc repro +# pretrain.*?)```", text, re.S)
    return [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines()]


def run(command: str, cwd, env) -> subprocess.CompletedProcess:
    return _sh(["bash", "-c", command], cwd, env)


@pytest.mark.slow
def test_readme_baseline_and_finetune_side_by_side_in_dvc_exp_show(repo_copy, subprocess_env, tmp_path_factory):  # noqa: F811
    env = dict(subprocess_env, GPTLAB_CONF_DIR=str(repo_copy / "conf"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")  # fmt: skip
    new_mlflow_store(repo_copy, tmp_path_factory)
    # The repository's defaults, made tiny and committed, as params.yaml is on a fresh clone.
    _params(repo_copy, "experiment=smoke", "data=file", "data.path=corpus.txt", "trainer.max_steps=10")
    run("git add params.yaml && git commit -qm tiny", repo_copy, env)

    commands = readme_commands()
    show = next(c for c in commands if c.startswith("dvc exp show"))
    assert "--only-changed" in show and "--drop" in show
    for command in commands[: commands.index(show)]:
        if command.startswith("dvc exp run"):
            command = f"{command} {shlex.join(FAST)}"
        run(command.replace("dvc ", "python -m dvc ", 1) if command.startswith("dvc ") else command, repo_copy, env)

    table = run(show.replace("dvc ", "python -m dvc ", 1) + " --csv", repo_copy, env).stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    columns = list(rows[0])
    assert not [c for c in columns if c.startswith(("src/", "data/", "artifacts/", "reports/"))]
    assert len(columns) < 60, columns  # ~150 with a column per source file
    # workspace, the committed baseline (the pretrain) and the experiment, each with its results
    assert [r["typ"] for r in rows] == ["baseline", "baseline", "branch_base"]
    assert rows[2]["Experiment"] == "finetune"
    for key in ("val.bits_per_char", "train.init_from", "data.path"):
        assert key in columns
    baseline, finetune = rows[1], rows[2]
    assert "!" not in baseline.values()
    assert (baseline["data.path"], finetune["data.path"]) == ("corpus.txt", "finetune.txt")
    assert (baseline["train.init_from"], finetune["train.init_from"]) == ("", "pretrained")
    assert float(baseline["val.bits_per_char"]) > 0 and float(finetune["val.bits_per_char"]) > 0
