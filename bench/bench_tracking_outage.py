"""What a tracking-server outage costs a training run: wall time, and what reaches MLflow.

    python bench/bench_tracking_outage.py                 # 400 steps, 2 repeats
    python bench/bench_tracking_outage.py --steps 200 --repeats 3
    python bench/bench_tracking_outage.py --busy-cores 1    # another process keeps one core busy

A real ``mlflow server`` (SQLite store, a free 127.0.0.1 port) and a small dataset are
made in a temporary directory. ``python -m gptlab.train experiment=smoke`` then runs,
in a child process, in these ways (one after the other, repeated):

* ``untracked``: ``logger=none``;
* ``server up``: tracked, the server up throughout;
* ``stopped``: the server is stopped (connections refused) as soon as the first
  checkpoint exists (step 10), and stays down to the end;
* ``hung``: the server is frozen (SIGSTOP) at the same point: it accepts connections but
  never answers, the worst case for timeouts.

For each: the child's wall time, the extra over ``server up`` and over ``untracked``,
whether the model directory landed, and, for the outage runs, the pending file's
operations, which ``python -m gptlab.track`` then sends once the server is back
(checked: the run's whole loss curve and FINISHED status arrive). Before the fix, the
``stopped`` case never finished (stuck at step 60 after 420 s).
Prints a Markdown table. Wall times include Python's start-up and imports: with other
processes busy on the machine they vary by seconds between repeats (load average shown).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET = ("hydra.output_subdir=null", "hydra.run.dir=.", "hydra/job_logging=stdout")
DATA = ("data=file", "data.path=corpus.txt")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["GPTLAB_CONF_DIR"] = str(REPO / "conf")
    e["PYTHONPATH"] = str(REPO / "src") + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")  # mlflow server's own programs
    return e


def corpus_text() -> str:
    lines = []
    for i in range(240):
        lines.append(f"ROMEO:\nBut soft, what light through yonder window breaks? {i}\nIt is the east, and Juliet is the sun.\n")
        lines.append(f"JULIET:\nO Romeo, Romeo! wherefore art thou Romeo? {i}\nDeny thy father and refuse thy name.\n")
    return "\n".join(lines)


class Server:
    """``mlflow server`` on a SQLite store and a free 127.0.0.1 port, started as a process group
    (plain ``mlflow server``: the benchmark does not depend on gptlab's UI module)."""

    def __init__(self, root: Path):
        self.root = root
        (root / "mlflow.db").touch()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env(), cwd=self.root, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("mlflow server did not start in 180 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def hang(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)


def train(root: Path, steps: int, tracking: str | None, on_first_checkpoint=None) -> tuple[float, str]:
    """Run the train stage; (wall seconds, its output)."""
    ckpt = root / "artifacts/train/checkpoints/last.ckpt"
    shutil.rmtree(root / "artifacts/train", ignore_errors=True)
    args = ["experiment=smoke", *DATA, *QUIET, f"trainer.max_steps={steps}", "trainer.enable_progress_bar=false",
            "train.sample_every_n_val=0"]  # fmt: skip
    args += [f"logger.tracking_uri={tracking}", "logger.experiment_name=bench"] if tracking else ["logger=none"]
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gptlab.train", *args], cwd=root, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    if on_first_checkpoint is not None:
        deadline = time.monotonic() + 600
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        on_first_checkpoint()
    try:
        out, _ = proc.communicate(timeout=1800)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit("a training run took more than 30 minutes") from None
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, out


def sync_and_check(root: Path, server: Server, steps: int) -> str:
    from mlflow.tracking import MlflowClient

    pending = sorted((root / ".cache/gptlab/mlflow-outbox").glob("*.jsonl"))
    if not pending:
        return "nothing pending"
    n_ops = sum(len(p.read_text().splitlines()) - 1 for p in pending)
    res = subprocess.run([sys.executable, "-m", "gptlab.track"], cwd=root, env=env(), capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"sync failed: {res.stderr[-2000:]}")
    run_id = json.loads((root / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(server.url)
    logged = len(client.get_metric_history(run_id, "train/loss"))
    status = client.get_run(run_id).info.status
    expected = steps // 5  # the smoke experiment logs every 5 steps
    ok = logged == expected and status == "FINISHED"
    return f"{n_ops} ops kept, synced: {logged}/{expected} loss points, {status}" + ("" if ok else " (INCOMPLETE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--busy-cores", type=int, default=0, help="processes spinning on a core each, throughout")
    args = parser.parse_args()

    spin = [sys.executable, "-c", "while True: pass"]
    busy = [subprocess.Popen(spin) for _ in range(args.busy_cores)]

    root = Path(tempfile.mkdtemp(prefix="gptlab-outage-"))
    load0 = os.getloadavg()
    try:
        (root / "corpus.txt").write_text(corpus_text(), encoding="utf-8")
        for stage in ("prepare", "tokenize", "build"):
            subprocess.run([sys.executable, "-m", f"gptlab.{stage}", *DATA, *QUIET], cwd=root, env=env(),
                           check=True, capture_output=True, timeout=600)  # fmt: skip
        (root / "server").mkdir()
        server = Server(root / "server")
        server.start()
        uri = server.url
        walls: dict[str, list[float]] = {k: [] for k in ("untracked", "server up", "stopped", "hung")}
        notes: dict[str, str] = {}
        waits: dict[str, list[float]] = {"stopped": [], "hung": []}
        for _ in range(args.repeats):
            walls["untracked"].append(train(root, args.steps, None)[0])
            walls["server up"].append(train(root, args.steps, uri)[0])
            for case, fault in (("stopped", server.stop), ("hung", server.hang)):
                wall, out = train(root, args.steps, uri, on_first_checkpoint=fault)
                walls[case].append(wall)
                m = re.search(r"waited ([0-9.]+) s for it at the end", out)
                waits[case].append(float(m.group(1)) if m else float("nan"))
                landed = (root / "artifacts/model/model.safetensors").is_file()
                server.stop()
                server.start()
                notes[case] = f"model dir {'landed' if landed else 'MISSING'}; {sync_and_check(root, server, args.steps)}"
        server.stop()
    finally:
        for proc in busy:
            proc.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()

    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"train stage, experiment=smoke, {args.steps} steps, {args.repeats} repeats (median wall s); "
          f"load average {load0[0]:.1f} -> {load1[0]:.1f} on {os.cpu_count()} CPUs; "
          f"{args.busy_cores} core(s) kept busy by a spinning process\n")  # fmt: skip
    print("| run | wall (s) | extra vs server up | extra vs untracked | waited at the end (s) | notes |")
    print("|---|---:|---:|---:|---:|---|")
    for case, m in med.items():
        runs = ", ".join(f"{w:.1f}" for w in walls[case])
        waited = ", ".join(f"{w:.1f}" for w in waits.get(case, [])) or "—"
        print(f"| {case} | {m:.1f} ({runs}) | {m - med['server up']:+.1f} | {m - med['untracked']:+.1f} | {waited} | "
              f"{notes.get(case, '')} |")  # fmt: skip


if __name__ == "__main__":
    main()
