"""Defect 3: a real ``mlflow server`` stopped and restarted under a training run.

Training never waits on the server: it goes on through the outage, what could not be
sent is kept and sent when the server is back (during the run, or later with
``python -m gptlab.track``), and an outage lasting to the end costs at most 30 s
of wall time. Every wait here is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gptlab.runtime import servers
from gptlab.tracking import server as ui
from gptlab.tracking.outbox import WORST_END_WAIT_S
from tests.helpers import new_mlflow_store
from tests.faults.conftest import QUIET, SMOKE, cli

pytestmark = pytest.mark.slow

START_S = 120.0  # an MLflow server starts in ~5-15 s


class Server:
    """``mlflow server`` on a free 127.0.0.1 port and a SQLite store, restartable on the same port."""

    def __init__(self, root: Path, store_uri: str):
        self.root = root
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.settings = ui.UiSettings(tracking_uri=store_uri, host="127.0.0.1", port=port, workers=1, server_args=())
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.settings.url

    def start(self) -> None:
        # Not ui.start: the server's output is not wanted here.
        self.proc = subprocess.Popen(ui.server_command(self.settings), env=ui.server_env(self.settings), cwd=self.root,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        running = servers.Server(self.proc.pid, "mlflow server", proc=self.proc)
        assert running.wait_ready(lambda: ui.ready(self.settings), START_S), "mlflow server did not start"

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
            servers.Server(self.proc.pid, "mlflow server", proc=self.proc).stop()

    def kill(self) -> None:
        """At the end of the module: SIGKILL, no graceful shutdown to wait for (a server
        that was frozen may hold requests it never answered)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def hang(self) -> None:
        """Accepts connections (the kernel does) but never answers: the worst case for timeouts."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.url)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mlflow-server")
    s = Server(root, new_mlflow_store(root, tmp_path_factory))  # an empty store: the server need not make its tables
    s.start()
    yield s
    s.kill()


def pace(marks: Path, *, step_s: float, at: tuple[int, ...] = (), hold_at: int = -1) -> str:
    return (f"train.extra_callbacks=[{{_target_:fault_callbacks.Pace,step_s:{step_s},dir:'{marks}',"
            f"marks:[{','.join(map(str, at))}],hold_at:{hold_at}}}]")  # fmt: skip


def wait_for(cond, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"training ended (code {proc.returncode}) while waiting for {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    if proc is not None:
        proc.kill()
    pytest.fail(f"no {what} after {timeout_s:.0f} s")


def train_popen(root: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gptlab.train", *SMOKE, *QUIET, *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def run_of(root: Path) -> str:
    return json.loads((root / "artifacts/model/config.json").read_text())["mlflow"]["run_id"]


def logged_steps(client, run_id: str, key: str = "train/loss") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def local_steps(root: Path) -> list[int]:
    """The steps of the run's own loss curve (reports/plots/train_loss.csv): what MLflow must hold."""
    rows = (root / "reports/plots/train_loss.csv").read_text().splitlines()[1:]
    return [int(row.split(",")[0]) for row in rows]


def test_a_server_stopped_and_restarted_mid_run_loses_nothing(server: Server, project: Path, fault_env):
    marks = project / "marks"
    marks.mkdir()
    # 20 steps with the server up, 100 without it, then it is back for the last 10 steps.
    proc = train_popen(project, fault_env, f"logger.tracking_uri={server.url}", "logger.experiment_name=outage",
                       "trainer.max_steps=130", "trainer.val_check_interval=50", "trainer.log_every_n_steps=10",
                       pace(marks, step_s=0.05, at=(20,), hold_at=120))  # fmt: skip
    try:
        wait_for(lambda: (marks / "step_20").exists(), 300, "step 20", proc)
        server.stop()  # connections refused from now on
        # Training goes on without the server: 100 steps of 0.05 s, two validations, two checkpoints.
        wait_for(lambda: (marks / "step_120").exists(), 60, "step 120 with the server down", proc)
        # Liveness, not speed: wait_for's 60 s bound above; the extra wall time of an outage
        # is a benchmark figure (bench/bench_tracking_outage.py, BENCHMARKS.md "Faults").
        assert (project / "artifacts/train/checkpoints/last.ckpt").is_file()

        server.start()  # same port, same store
        client = server.client()
        run_id = client.search_runs([client.get_experiment_by_name("outage").experiment_id])[0].info.run_id
        # What was kept during the outage arrives while the run is still going (it waits at step 120).
        wait_for(lambda: any(100 < s < 120 for s in logged_steps(client, run_id)), 60,
                 "the buffered metrics on the restarted server")  # fmt: skip
        (marks / "go").touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    log = out + err
    assert log.count("is not answering") == 1  # warned once
    assert "answers again" in log
    assert "were not recorded" not in log
    assert run_of(project) == run_id
    assert logged_steps(client, run_id) == local_steps(project)  # no gap where the server was away
    assert len(local_steps(project)) == 130 // 10
    assert client.get_run(run_id).info.status == "FINISHED"
    assert not list((project / ".cache/gptlab/mlflow-outbox").glob("*.jsonl"))


def test_an_outage_to_the_end_never_stalls_and_sync_sends_the_rest(server: Server, project: Path, fault_env,
                                                                       capsys):  # fmt: skip
    """The worst case: a server that hangs (accepts connections, never answers) from step 10 to the end.

    What the outage adds to the wall time, against an untracked run and one with the server
    up, is bench/bench_tracking_outage.py's figure (BENCHMARKS.md "Faults"); here, the
    run's own bounded wait at the end."""
    marks = project / "marks"
    marks.mkdir()
    args = ("trainer.max_steps=100", "trainer.val_check_interval=50", pace(marks, step_s=0.05, at=(10,)))

    t0 = time.monotonic()
    proc = train_popen(project, fault_env, f"logger.tracking_uri={server.url}", "logger.experiment_name=hang", *args)
    try:
        wait_for(lambda: (marks / "step_10").exists(), 300, "step 10", proc)
        server.hang()
        out, err = proc.communicate(timeout=300)
        hung_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.resume()
    assert proc.returncode == 0, err[-3000:]
    log = out + err
    (line,) = [x for x in log.splitlines() if "were not recorded" in x]
    assert "python -m gptlab.track" in line
    # The only wait on the server is at the end (training itself never calls it): bounded by
    # one request in flight (timeout 5 s, one retry).
    waited_s = float(re.search(r"waited ([0-9.]+) s", line).group(1))
    with capsys.disabled():
        print(f"\ntracking outage to the end (hung server): {hung_s:.1f} s; waited {waited_s:.1f} s at the end")
    assert waited_s <= WORST_END_WAIT_S  # the run's own bounded wait (request timeouts), not a speed target
    assert (project / "artifacts/model/model.safetensors").is_file()  # the model directory landed
    (pending,) = (project / ".cache/gptlab/mlflow-outbox").glob("*.jsonl")
    assert str(pending) in line

    res = cli("track", cwd=project, env=fault_env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not pending.exists()
    client = server.client()
    run_id = run_of(project)
    assert logged_steps(client, run_id) == local_steps(project)
    assert len(local_steps(project)) == 100 // 5  # the smoke experiment logs every 5 steps
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert {"model", "plots", "tokenizer"} <= {a.path for a in client.list_artifacts(run_id)}
