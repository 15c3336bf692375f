"""What MLflow's system-metrics monitor costs a training run.

The same training (a preset, shortened to ``--steps``) with ``logger.system_metrics_interval_s``
off and at each ``--intervals`` value, interleaved ``--repeats`` times in one process on
one machine, tracked in a scratch SQLite store. Reported per setting: the steady-state
training tokens/s of the run (gptlab's Throughput callback: validation and checkpoint
writes left out; the best and the median of the repeats), the end-to-end wall time of
``fit``, and the change against "off". The monitor is a Python thread that samples
psutil (and NVML where a GPU is present) and writes one batch of ``system/*`` metrics
per interval.

First, the cost of one sample measured directly (``--samples`` of them, no training):
what the monitor's thread does per interval (read the run's status, collect, aggregate,
record; the batched writes flushed at the end), as wall and CPU milliseconds. Divided by
the interval it bounds the share of a core (and of the GIL) the monitor takes, a figure
that the noise of a shared machine does not blur as it blurs the end-to-end tokens/s.

    python bench/bench_system_metrics.py                                   # CPU, 300 steps, off / 10 s / 1 s
    python bench/bench_system_metrics.py --steps 600 --repeats 3 --intervals 10 2 0.5
    python bench/bench_system_metrics.py --preset shakespeare_char_gpu --override trainer=gpu
    python bench/bench_system_metrics.py --repeats 0                       # the per-sample cost only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def prepare_data(workdir: Path, corpus: Path, preset: str) -> None:
    from tests.helpers import run_stage

    os.chdir(workdir)
    for stage in ("prepare", "tokenize", "build"):
        run_stage(stage, f"experiment={preset}", f"data.path={corpus}")


def train(workdir: Path, overrides: list[str]) -> dict:
    from gptlab.training.settings import fit_settings
    from gptlab.training.fit import fit
    from tests.helpers import compose

    os.chdir(workdir)
    t0 = time.perf_counter()
    report = fit(fit_settings(compose(*overrides)))
    report["fit_wall_s"] = time.perf_counter() - t0
    return report


def sample_cost(uri: str, samples: int) -> tuple[float, float]:
    """(wall ms, CPU ms) of one sample of MLflow's monitor, on a scratch run of ``uri``."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    from mlflow.tracking import MlflowClient

    from gptlab.tracking import TrackingStore

    store = TrackingStore(uri)
    client = store.client
    run_id = client.create_run(store.ensure_experiment("bench-sample-cost")).info.run_id
    monitor = SystemMetricsMonitor(run_id, sampling_interval=3600, tracking_uri=uri)  # never started: driven here
    monitor.collect_metrics()  # psutil's first CPU reading is a baseline
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(samples):
        MlflowClient(store.uri).get_run(run_id)  # the monitor's status check (a new client each time, as it does)
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
    monitor.mlflow_logger.flush()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    client.set_terminated(run_id)
    return wall / samples * 1e3, cpu / samples * 1e3


def label(interval: float | None) -> str:
    return "off" if not interval else f"every {interval:g} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/tinyshakespeare.txt")
    ap.add_argument("--preset", default="shakespeare_char_cpu")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of each setting (0: none)")
    ap.add_argument("--samples", type=int, default=200, help="monitor samples timed directly (0: none)")
    ap.add_argument("--intervals", type=float, nargs="+", default=[10.0, 1.0], help="seconds (off is always run)")
    ap.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides, e.g. trainer=gpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("GPTLAB_CONF_DIR", str(REPO / "conf"))
    os.environ.pop("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", None)  # it would override the setting
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-sysmetrics-"))
    workdir.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    if args.samples:
        wall_ms, cpu_ms = sample_cost(uri, args.samples)
        print(f"one monitor sample ({args.samples} timed): {wall_ms:.1f} ms wall, {cpu_ms:.1f} ms CPU; "
              + ", ".join(f"every {i:g} s: {cpu_ms / 1e3 / i:.3%} of a core" for i in args.intervals), flush=True)
    if not args.repeats:
        return
    prepare_data(workdir, args.corpus.resolve(), args.preset)
    base = [
        f"experiment={args.preset}", f"data.path={args.corpus.resolve()}", f"trainer.max_steps={args.steps}",
        "trainer.enable_progress_bar=false", "train.sample_every_n_val=0", "logger.registered_model_name=null",
        f"logger.tracking_uri={uri}", *args.override,
    ]  # fmt: skip
    settings: list[float | None] = [None, *args.intervals]
    results: dict[str, list[dict]] = {label(s): [] for s in settings}
    for r in range(args.repeats):
        order = settings if r % 2 == 0 else list(reversed(settings))  # interleaved against drift
        for interval in order:
            value = "null" if interval is None else f"{interval:g}"
            report = train(workdir, [*base, f"logger.system_metrics_interval_s={value}"])
            results[label(interval)].append(report)
            print(f"repeat {r + 1} {label(interval):>12}: {report['tokens_per_s']:,.0f} tokens/s, "
                  f"fit {report['fit_wall_s']:.1f} s", flush=True)  # fmt: skip

    off = max(x["tokens_per_s"] for x in results["off"])
    print(f"\n{args.preset}, {args.steps} steps, {args.repeats} repeats, torch threads {torch.get_num_threads()}, "
          f"device {'cuda' if any('gpu' in o for o in args.override) else 'cpu'}")  # fmt: skip
    print("| system metrics | best tokens/s | median tokens/s | best vs off | median fit wall |")
    print("|---|---:|---:|---:|---:|")
    for name, reports in results.items():
        tps = [x["tokens_per_s"] for x in reports]
        wall = statistics.median(x["fit_wall_s"] for x in reports)
        print(f"| {name} | {max(tps):,.0f} | {statistics.median(tps):,.0f} | {max(tps) / off - 1:+.1%} | {wall:.1f} s |")


if __name__ == "__main__":
    main()
