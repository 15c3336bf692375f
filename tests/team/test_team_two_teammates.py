"""Slow: two teammates, two clones, one team stack (tests/team/conftest.py).

A runs the pipeline as a DVC experiment logging to the team server, pushes its outputs to
the DVC remote on the stack's S3 bucket and the experiment to the git remote; B pulls and
applies it and gets byte-identical outputs, sees A's MLflow run and its artifacts, trains
a better model whose publish moves ``champion``, and serves the champion from the server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptlab.runtime.programs import child_env
from tests.helpers import REPO, SMALL_CORPUS
from tests.stages.test_serve_cli import free_port, post

pytestmark = pytest.mark.slow

EXP = "exp-a"
MODEL = "gptlab-file-char"  # data=file, tokenizer=char
SETTINGS = ("experiment=smoke", "data=file", "data.path=corpus.txt", "logger=team", "logger.experiment_name=team-two",
            "train.sample_every_n_val=0", "trainer.max_steps=10", "trainer.val_check_interval=5")  # fmt: skip
GIT = ("git", "-c", "user.email=t@t", "-c", "user.name=t")
SERVE_START_S = 180


def sh(cmd, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    res = subprocess.run(list(cmd), cwd=cwd, env=child_env(env), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def dvc(args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return sh([sys.executable, "-m", "dvc", *args], cwd, env)


def digests(root: Path) -> dict[str, str]:
    files = sorted(p for p in (root / "artifacts/model").rglob("*") if p.is_file()) + [root / "reports/metrics.json"]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def origin_repo(tmp_path: Path, team_stack) -> Path:
    """A bare git remote holding this repository's tracked files (and the working tree's code
    and config), with the team's DVC remote committed."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    shutil.copytree(REPO / "src", src / "src", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", src / "conf", dirs_exist_ok=True)
    shutil.copy2(REPO / "dvc.yaml", src / "dvc.yaml")
    (src / "corpus.txt").write_text(SMALL_CORPUS * 4, encoding="utf-8")
    env = team_stack.base_env
    sh(["git", "init", "-q", "-b", "main"], src, env)
    res = team_stack.team("remote", cwd=src)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (src / ".dvc/config.local").is_file()
    sh([*GIT, "add", "-A"], src, env)  # .dvc/config.local is ignored by DVC's own .dvc/.gitignore
    sh([*GIT, "commit", "-qm", "team"], src, env)
    assert "config.local" not in sh(["git", "ls-files", ".dvc"], src, env).stdout
    origin = tmp_path / "origin.git"
    sh(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)
    sh(["git", "push", "-q", str(origin), "main"], src, env)
    return origin


def clone(origin: Path, dst: Path, team_stack) -> Path:
    sh(["git", "clone", "-q", str(origin), str(dst)], origin.parent, team_stack.base_env)
    res = team_stack.team("remote", cwd=dst)  # this clone's keys, in its .dvc/config.local
    assert res.returncode == 0, res.stderr[-2000:]
    assert not sh(["git", "status", "--porcelain"], dst, team_stack.base_env).stdout.strip()  # the shared part unchanged
    return dst


def test_two_teammates_share_an_experiment_runs_and_the_champion(team_stack, tmp_path, mlflow_as):
    origin = origin_repo(tmp_path, team_stack)
    a = clone(origin, tmp_path / "a", team_stack)
    b = clone(origin, tmp_path / "b", team_stack)
    env_a = dict(team_stack.env("alice"), GPTLAB_CONF_DIR=str(a / "conf"))
    env_b = dict(team_stack.env("bob"), GPTLAB_CONF_DIR=str(b / "conf"))

    # A: the pipeline as a DVC experiment, its outputs to the DVC remote, the experiment to git
    dvc(["exp", "run", "-n", EXP, *(x for s in SETTINGS for x in ("-S", s))], a, env_a)
    dvc(["push"], a, env_a)
    dvc(["exp", "push", "origin", EXP], a, env_a)
    run_a = json.loads((a / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]

    # B: the experiment from git, its outputs from the DVC remote: byte-identical
    dvc(["exp", "pull", "origin", EXP], b, env_b)
    dvc(["exp", "apply", EXP], b, env_b)
    assert digests(b) == digests(a)
    assert "tracking_uri: " + team_stack.uri in (b / "params.yaml").read_text()  # the URI, never a login
    assert team_stack.creds().users["alice"] not in (b / "params.yaml").read_text()

    # B sees A's run and its artifacts on the server, and its champion
    client = mlflow_as("bob")
    run = client.get_run(run_a)
    assert run.info.status == "FINISHED" and "eval/val_bits_per_char" in run.data.metrics
    assert {"model", "tokenizer"} <= {x.path for x in client.list_artifacts(run_a)}
    assert client.get_model_version_by_alias(MODEL, "champion").run_id == run_a

    # B trains a better model (more steps) and publishes it: the champion moves to B's run
    overrides = [*SETTINGS, "trainer.max_steps=60", "hydra.run.dir=.", "hydra.output_subdir=null"]
    for stage in ("train", "evaluate", "publish"):
        sh([sys.executable, "-m", f"gptlab.{stage}", *overrides], b, env_b)
    publish = json.loads((b / "reports/publish.json").read_text())
    assert publish["promoted"], publish
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.run_id == publish["run_id"] != run_a

    # the champion, served from the server's registry (bob's login; artifacts through the server)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gptlab.serve", "data=file", "logger=team", f"port={port}",
                                 f"model_uri=models:/{MODEL}@champion", "device=cpu"],
                                cwd=b, env=child_env(env_b), stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + SERVE_START_S
        while "curl " not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.5)
        status, body = post(url, {"inputs": ["ROMEO:"], "params": {"max_new_tokens": 8, "seed": 1}})
        assert status == 200 and isinstance(body["predictions"][0], str), body
        assert f"models:/{MODEL}@champion" in log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the CLI stops its scoring server
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
