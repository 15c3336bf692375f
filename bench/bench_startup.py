"""Fixed cost of a training process: start to first step, and last step to exit.

Runs ``python -m gptlab.train experiment=smoke`` (30 steps of the tiny model, MLflow on
by default) as a user does, in a scratch directory where prepare/tokenize/build ran
once, and times each process from the outside (spawn, exit) and from the inside (a
callback passed through ``train.extra_callbacks`` stamps the first training batch, the
last optimizer step and the end of training with the wall clock):

* **start to first step**: spawn -> the first training batch starts (interpreter,
  imports, config, data and lineage checks, tracking set-up, model, sanity validation);
* **fit loop**: first batch -> last optimizer step (what a longer run scales);
* **last step to exit**: last optimizer step -> process exit, split into the end of
  training (the final validation, checkpoint) and what follows (report, model
  directory, MLflow artifacts, interpreter exit).

As references, the same interpreter timing ``import torch`` and ``import torch,
lightning`` alone (the goal: the smoke process, MLflow on, within 2.5 s of the latter).
Each is also timed in CPU seconds (user + system, the process and its children), which
other jobs on a shared machine inflate far less than wall time.

    python bench/bench_startup.py --corpus ../shared/data/tinyshakespeare.txt --repeats 3
    python bench/bench_startup.py --repeats 3 --overrides logger=none
    python bench/bench_startup.py --src /tmp/gptlab_old/src --repeats 3    # another checkout's code ("before")

The median and the best of ``--repeats`` runs of each are reported (the machine may be
shared: the load average is printed), as JSON and as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


def __getattr__(name: str):
    """``StartupMarks``, built on first use so that importing this file needs no Lightning
    (``train.extra_callbacks=[{_target_: bench_startup.StartupMarks, path: FILE}]``)."""
    if name == "StartupMarks":
        return _marks_class()
    raise AttributeError(name)


_CLASSES: dict = {}


def _marks_class():
    if "StartupMarks" in _CLASSES:
        return _CLASSES["StartupMarks"]
    import lightning.pytorch as pl

    class StartupMarks(pl.Callback):
        """Wall-clock stamps (``time.time()``, comparable across processes) of a fit."""

        def __init__(self, path: str):
            self.path = Path(path)
            self.marks: dict = {}

        def on_fit_start(self, trainer, pl_module):
            self.marks.setdefault("fit_start", time.time())

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.marks.setdefault("first_batch_start", time.time())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step >= trainer.max_steps:
                self.marks.setdefault("last_step_end", time.time())

        def on_train_end(self, trainer, pl_module):
            self.marks["train_end"] = time.time()
            self.marks["steps"] = trainer.global_step
            self.path.write_text(json.dumps(self.marks))

    _CLASSES["StartupMarks"] = StartupMarks
    return StartupMarks


def child_env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(BENCH), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["GPTLAB_CONF_DIR"] = str(src.parent / "conf")
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def children_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes so far (theirs included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    t0, cpu0 = time.time(), children_cpu_s()
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.time() - t0
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return took, children_cpu_s() - cpu0


def train_once(work: Path, env: dict, overrides: list[str]) -> dict:
    marks_file = work / "marks.json"
    marks_file.unlink(missing_ok=True)
    shutil.rmtree(work / "artifacts/train", ignore_errors=True)
    cb = f"train.extra_callbacks=[{{_target_:bench_startup.StartupMarks,path:'{marks_file}'}}]"
    cmd = [sys.executable, "-m", "gptlab.train", "experiment=smoke", *overrides, cb]
    spawn, cpu0 = time.time(), children_cpu_s()
    res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    exit_t, cpu_s = time.time(), children_cpu_s() - cpu0
    if res.returncode != 0:
        sys.exit(f"train failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-4000:]}")
    m = json.loads(marks_file.read_text())
    return {
        "process_s": exit_t - spawn,
        "process_cpu_s": cpu_s,
        "start_to_first_step_s": m["first_batch_start"] - spawn,
        "of_which_before_fit_start_s": m["fit_start"] - spawn,
        "fit_loop_s": m["last_step_end"] - m["first_batch_start"],
        "last_step_to_exit_s": exit_t - m["last_step_end"],
        "of_which_last_step_to_train_end_s": m["train_end"] - m["last_step_end"],
        "of_which_train_end_to_exit_s": exit_t - m["train_end"],
        "steps": m["steps"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/tinyshakespeare.txt")
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the gptlab source tree to time (its ../conf is used)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--overrides", nargs="*", default=[], help="extra train overrides, e.g. logger=none")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    src = args.src.resolve()
    env = child_env(src)
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="gptlab-bench-startup-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    for stage in ("prepare", "tokenize", "build"):
        run([sys.executable, "-m", f"gptlab.{stage}", "experiment=smoke", "data=file", f"data.path={corpus}"], work, env)
    overrides = ["data=file", f"data.path={corpus}", *args.overrides]

    load_before = os.getloadavg()
    refs: dict[str, list[float]] = {k: [] for k in ("import_torch_s", "import_torch_lightning_s",
                                                    "import_torch_lightning_cpu_s")}  # fmt: skip
    runs = []
    for _ in range(args.repeats):  # interleaved, so a burst of load hits one repeat of each
        refs["import_torch_s"].append(run([sys.executable, "-c", "import torch"], work, env)[0])
        wall, cpu = run([sys.executable, "-c", "import torch, lightning"], work, env)
        refs["import_torch_lightning_s"].append(wall)
        refs["import_torch_lightning_cpu_s"].append(cpu)
        runs.append(train_once(work, env, overrides))
    # Median, and best: a shared machine's bursts (an fsync behind another process's
    # writes can take seconds) hit single runs, so the best is the code's own cost.
    stats = {}
    for name, pick in (("median", statistics.median), ("best", min)):
        d = {k: pick(r[k] for r in runs) for k in runs[0] if k != "steps"}
        d.update({k: pick(v) for k, v in refs.items()})
        d["process_minus_import_torch_lightning_s"] = d["process_s"] - d["import_torch_lightning_s"]
        # CPU seconds are far less sensitive to other jobs on a shared machine than wall time.
        d["process_minus_import_torch_lightning_cpu_s"] = d["process_cpu_s"] - d["import_torch_lightning_cpu_s"]
        stats[name] = {k: round(v, 3) for k, v in d.items()}
    result = {
        "command": f"python -m gptlab.train experiment=smoke {' '.join(overrides)}",
        "src": str(src),
        "repeats": args.repeats,
        "load_avg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        **stats,
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
        "refs": {k: [round(x, 3) for x in v] for k, v in refs.items()},
    }
    print(json.dumps(result, indent=2))
    print(f"\n| seconds ({args.repeats} runs) | median | best |\n|---|---:|---:|")
    for k in stats["median"]:
        print(f"| {k} | {stats['median'][k]:.2f} | {stats['best'][k]:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
