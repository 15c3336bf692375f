"""A training run's MLflow writes, sent by a process of their own.

Why a process: in a ``python -m gptlab.train`` process, ``import mlflow`` and the store's
set-up (SQLAlchemy's models, the schema check, the experiment, the run) are 2-3 s of
Python, and so is ``import lightning``. A thread cannot run the two side by side: both
are bytecode under one interpreter lock (measured: started before ``import lightning``,
the thread made the smoke run slower, BENCHMARKS.md "Fixed cost"). A second process can,
on a second core, and once training runs it keeps the sending, the outbox's retries and
MLflow's system-metrics monitor off the training process too. The training process then
never imports MLflow at all.

The protocol is JSON lines. The training process writes the run request, then one
operation per line (:class:`~gptlab.tracking.outbox.RunWrites` makes them), then
``{"op": "close"}``; the sender answers the request with the opened run (or one error
line), and the close with the operations it could not send. Inside, the sender is the same
:class:`~gptlab.tracking.outbox.Outbox` a thread-sending run uses, so an outage behaves
the same: training goes on, what is not sent waits in the outbox's file and is sent when
the server is back, or later with ``python -m gptlab.track``.

The sender runs in its own session, so a Ctrl-C meant for the training does not stop it
before the run's end is recorded; if the training process dies, the end of its input tells
the sender to send what it has (bounded, as the outbox's close is) and stop.

``logger.sender`` picks how a run sends: ``process`` (this), ``thread`` (the outbox's
thread in the training process) or ``auto``: the process when MLflow is not loaded in the
training process yet (a ``python -m gptlab.train`` run), the thread when it is (a sweep's
jobs in one process, a notebook, the tests), where a process would only load it again.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from gptlab.tracking.outbox import WORST_END_WAIT_S, RunWrites, header

log = logging.getLogger(__name__)

SENDERS = ("auto", "process", "thread")
_END = object()  # the writer's stop mark


def sends_from_a_process(sender: str) -> bool:
    """Whether ``logger.sender`` means the separate process, here and now."""
    if sender not in SENDERS:
        from gptlab.errors import ConfigError

        raise ConfigError(f"logger.sender must be one of: {', '.join(SENDERS)}; got {sender!r}")
    if sender == "auto":
        return "mlflow" not in sys.modules
    return sender == "process"


class SenderProcess(RunWrites):
    """The training process's side: starts the sender, hands it the run request and every
    write, and waits for it at :meth:`close`. Writing never waits (a thread feeds the pipe)."""

    def __init__(self, request: dict, spool_dir: str | Path):
        import gptlab

        self._uri = request["tracking_uri"]
        self._spool_dir = Path(spool_dir)
        self._spool: Path | None = None
        self._lost = 0
        env = dict(os.environ)
        # The sender imports gptlab from wherever this process did (an installed package or
        # a PYTHONPATH checkout).
        package_root = str(Path(gptlab.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "gptlab.tracking.sender"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
            text=True, encoding="utf-8",
        )  # fmt: skip
        self._writes: queue.SimpleQueue = queue.SimpleQueue()
        self._replies: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="gptlab-mlflow-sender-in", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="gptlab-mlflow-sender-out", daemon=True)
        self._writer.start()
        self._reader.start()
        self._writes.put(request)
        self.closed = False
        # A run that ends without closing (an error, an interrupt) still waits for its
        # writes, as the in-process outbox does.
        atexit.register(self.close)

    # -- the run

    def opened(self) -> dict:
        """The sender's answer to the request: ``{"run_id", "experiment_id", "params"}``.

        Raises the sender's one-line error (the class it named in :mod:`gptlab.errors`)."""
        reply = self._replies.get()
        if reply is None:
            from gptlab.errors import StoreError

            code = self._proc.wait()
            raise StoreError(f"the MLflow sender process ended (exit status {code}) before opening the run")
        if "error" in reply:
            raise _error_class(reply.get("type"))(reply["error"])
        return reply

    def _put(self, op: dict) -> None:
        self._writes.put(op)

    def close(self, wait_s: float | None = None) -> list[dict]:
        """Tell the sender to send what it has (``wait_s`` bounds a wait on an absent store,
        as :meth:`Outbox.close` does) and stop; the operations it could not send."""
        if self.closed:
            return []
        self.closed = True
        atexit.unregister(self.close)
        self._writes.put({"op": "close", "wait_s": wait_s})
        self._writes.put(_END)
        self._writer.join()
        reply = self._replies.get()
        self._proc.wait()
        left = list(reply.get("left", [])) if reply else []
        if self._lost:
            log.warning("%d MLflow operations could not reach the sender process; they are kept in %s: send them "
                        "with: python -m gptlab.track", self._lost, self._spool)  # fmt: skip
        return left

    # -- the pipes

    def _write_loop(self) -> None:
        pipe = self._proc.stdin
        while (item := self._writes.get()) is not _END:
            if pipe is not None:
                try:
                    pipe.write(json.dumps(item) + "\n")
                    pipe.flush()
                    continue
                except (BrokenPipeError, ValueError, OSError):
                    pipe = None  # the sender is gone: keep the rest on disk for `gptlab.track`
            if item.get("op") not in ("close", None) and "run_id" in item:
                self._keep(item)
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass

    def _keep(self, op: dict) -> None:
        try:
            if self._spool is None:
                self._spool_dir.mkdir(parents=True, exist_ok=True)
                self._spool = self._spool_dir / f"{op['run_id']}-{os.getpid()}-lost.jsonl"
                self._spool.write_text(json.dumps(header(self._uri)) + "\n", encoding="utf-8")
            with open(self._spool, "a", encoding="utf-8") as f:
                f.write(json.dumps(op) + "\n")
            self._lost += 1
        except OSError as exc:
            log.warning("an MLflow operation was lost: the sender process is gone and %s cannot be written (%s)",
                        self._spool_dir, exc)  # fmt: skip

    def _read_loop(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self._replies.put(None)


def _error_class(name: str | None) -> type[Exception]:
    from gptlab import errors

    cls = getattr(errors, name or "", None)
    return cls if isinstance(cls, type) and issubclass(cls, errors.GptlabError) else errors.StoreError


# -- the sender's side -------------------------------------------------------------------


def serve(requests: Any, replies: Any) -> int:
    """Open the run, then send what arrives until ``close`` or the end of ``requests``."""
    from gptlab.errors import GptlabError
    from gptlab.tracking.outbox import Outbox, _first_line
    from gptlab.tracking.store import TrackingStore
    from gptlab.tracking.system_metrics import start_system_metrics, stop_system_metrics
    from gptlab.tracking.training_logger import open_run
    from gptlab.tracking.uri import redact_uri

    def reply(message: dict) -> None:
        try:
            replies.write(json.dumps(message) + "\n")
            replies.flush()
        except (BrokenPipeError, ValueError):
            pass  # the training process is gone; what was not sent is on disk already

    line = requests.readline()
    if not line:
        return 0
    request = json.loads(line)
    try:
        store = TrackingStore(request["tracking_uri"])
        store.check_usable()  # a process of its own: it checks what it is given
        opened = open_run(store, request["experiment_name"], request["run_name"], request["run_id"],
                          request["tags"])  # fmt: skip
    except GptlabError as exc:
        reply({"error": str(exc), "type": type(exc).__name__})
        return 2
    except Exception as exc:  # noqa: BLE001 - MLflow's own errors: one line for the training to raise
        reply({"error": f"MLflow store {redact_uri(request['tracking_uri'])}: {_first_line(exc)}", "type": "StoreError"})
        return 2
    reply({"run_id": opened.run_id, "experiment_id": opened.experiment_id, "params": opened.logged_params})
    outbox = Outbox(store.client, store.uri, request["spool_dir"])
    monitor = start_system_metrics(store.uri, opened.run_id, request.get("system_metrics_interval_s"),
                                   resumed=bool(request.get("resumed")))  # fmt: skip
    wait_s: float | None = WORST_END_WAIT_S  # the training process is gone: a bounded end
    for line in requests:
        op = json.loads(line)
        if op.get("op") == "close":
            wait_s = op.get("wait_s")
            break
        outbox.put(op)
    stop_system_metrics(monitor)
    left = outbox.close(wait_s)
    reply({"left": left})
    return 0


def main() -> int:
    # Stopped only by the end of its input: a Ctrl-C or SIGTERM sent to the training's
    # process group must not cut the run's last writes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Replies own stdout; anything else printing there (a library) goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[gptlab mlflow sender] %(levelname)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return serve(sys.stdin, replies)


if __name__ == "__main__":
    code = main()
    # Everything is sent or kept on disk, and the training process has its answer: skip the
    # interpreter's teardown of MLflow, SQLAlchemy and their objects (a second or more).
    sys.stderr.flush()
    os._exit(code)
