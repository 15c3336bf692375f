"""The whole pipeline, stage by stage, as a user runs it: wall time of each stage's CLI.

Each stage runs as its own process (``python -m gptlab.<stage> <overrides>``), in order,
in an empty work directory, so the figures include interpreter start-up and imports
(torch and Lightning take seconds of every stage) exactly as ``dvc repro`` would pay
them. The default is the ``smoke`` preset, whose target is "the whole pipeline in under
a minute on 2 CPU cores":

    python bench/bench_pipeline.py                                   # experiment=smoke
    python bench/bench_pipeline.py --repeats 3
    python bench/bench_pipeline.py --overrides experiment=smoke trainer.max_steps=100

A stage that fails stops the benchmark with its exit status and the tail of its output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("prepare", "tokenize", "build", "train", "evaluate", "sample")


def run_pipeline(workdir: Path, overrides: list[str]) -> dict[str, float]:
    """Seconds per stage (and ``total``) for one run of every stage in ``workdir``."""
    env = dict(os.environ, GPTLAB_CONF_DIR=str(REPO / "conf"))
    times: dict[str, float] = {}
    for stage in STAGES:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", f"gptlab.{stage}", *overrides],
            cwd=workdir, env=env, capture_output=True, text=True,
        )  # fmt: skip
        times[stage] = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-3000:]
            sys.exit(f"stage {stage} failed with exit status {proc.returncode}:\n{tail}")
    times["total"] = sum(times[s] for s in STAGES)
    return times


def import_floor() -> float:
    """Seconds to start Python and import torch, Lightning and MLflow: what the training,
    evaluation and sampling stages pay before any work (gptlab imports them lazily)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, lightning, mlflow"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overrides", nargs="*", default=["experiment=smoke"], help="Hydra overrides for every stage")
    ap.add_argument("--repeats", type=int, default=1, help="whole-pipeline repeats, each in a fresh directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    args = ap.parse_args()

    runs = []
    for _ in range(args.repeats):
        workdir = Path(tempfile.mkdtemp(prefix="gptlab-bench-pipeline-"))
        try:
            # MLflow's store goes in the work directory too: nothing is left in the checkout.
            runs.append(run_pipeline(workdir, [*args.overrides, f"logger.tracking_uri=sqlite:///{workdir}/mlflow.db"]))
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()[0]
    floor = import_floor()
    best = min(runs, key=lambda r: r["total"])
    result = {
        "overrides": args.overrides,
        "cpus": os.cpu_count(),
        "load_average_1min_after": round(load, 2),
        "import_torch_lightning_mlflow_s": round(floor, 2),
        "totals_s": [round(r["total"], 1) for r in runs],
        "best_s": {k: round(v, 2) for k, v in best.items()},
    }
    print(json.dumps(result, indent=2))
    print("\n| stage | seconds (best run) |\n|---|---:|")
    for k, v in best.items():
        print(f"| {k} | {v:.1f} |")


if __name__ == "__main__":
    main()
