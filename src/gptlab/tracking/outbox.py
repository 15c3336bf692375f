"""A training run's MLflow writes, queued and sent in order by one background thread.

What an outage leaves unsent goes to a spool file under :data:`OUTBOX_DIR` (a killed process loses
nothing), sent when the store answers or by ``python -m gptlab.track``; the end waits for at most one
failing request. MLflow's async logging drops failed batches and waits unbounded (BENCHMARKS.md, "A
tracking-server outage").
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.tracking.store import HTTP_WORST_REQUEST_S, TrackingStore
from gptlab.tracking.uri import redact_uri

log = logging.getLogger(__name__)

FORMAT = 1
OUTBOX_DIR = Path(".cache") / "gptlab" / "mlflow-outbox"
SYNC_COMMAND = "python -m gptlab.track"
RETRY_FIRST_S = 2.0
RETRY_MAX_S = 15.0
# The end of a run waits for at most one failing request (plus slack for a busy machine).
WORST_END_WAIT_S = HTTP_WORST_REQUEST_S + 5.0
# Batches are merged up to what one request carries: one operation is one request, and the wait above holds.
MAX_ENTITIES = 1000
# The MLflow client methods an operation may name (the spool file is data, not code).
SENT = ("log_batch", "log_text", "log_artifact", "log_artifacts", "set_terminated", "log_datasets")
# MLflow error codes that mean "this request will never succeed": drop, do not retry.
_REFUSED = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
            "INVALID_STATE", "ENDPOINT_NOT_FOUND"}  # fmt: skip


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the store is away for now (retry later) rather than a refusal."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code not in _REFUSED
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return False  # a local file to upload is gone: retrying will not bring it back
    if isinstance(exc, (OSError, TimeoutError)):  # requests' errors are OSErrors
        return True
    return type(exc).__module__.startswith(("sqlalchemy", "urllib3", "requests", "http"))


def first_line(exc: BaseException, limit: int = 160) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # MLflow's messages repeat the URL and urllib3's pool: keep the part that says why.
    for marker in ("Caused by ", "failed with exception "):
        reason = reason.split(marker, 1)[-1]
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


# -- operations: plain JSON, so that they can wait in a file


def values_op(run_id: str, metrics: Iterable = (), params: Iterable = (), tags: Iterable = ()) -> dict:
    """A log-batch operation: metrics ``[key, value, timestamp_ms, step]``, params and tags ``[key, value]``."""
    return {"op": "log_batch", "run_id": run_id,
            "metrics": [[str(k), float(v), int(t), int(s or 0)] for k, v, t, s in metrics],
            "params": [[str(k), str(v)] for k, v in params], "tags": [[str(k), str(v)] for k, v in tags]}  # fmt: skip


def _entities(op: dict) -> int:
    return len(op["metrics"]) + len(op["params"]) + len(op["tags"])


def merge_batches(ops: list[dict]) -> tuple[dict, int]:
    """The first op with the following log-batch ops of its run merged in, up to one
    request's worth; (the op to send, how many queued ops it covers)."""
    first = ops[0]
    if first["op"] != "log_batch":
        return first, 1
    merged = {**first, **{k: list(first[k]) for k in ("metrics", "params", "tags")}}
    n = 1
    for op in ops[1:]:
        same_run = op["op"] == "log_batch" and op["run_id"] == first["run_id"]
        if not same_run or _entities(merged) + _entities(op) > MAX_ENTITIES:
            break
        for key in ("metrics", "params", "tags"):
            merged[key].extend(op[key])
        n += 1
    return merged, n


def send_op(client: Any, op: dict) -> None:
    """Carry out one operation with ``client`` (the store's MLflow client)."""
    kind, run_id = op["op"], op["run_id"]
    if kind not in SENT:  # e.g. "publish_model" from before publishing became its own stage
        raise ValueError(f"unknown MLflow outbox operation {kind!r}")
    args = {k: v for k, v in op.items() if k not in ("op", "run_id")}
    if kind == "log_datasets":
        from gptlab.tracking.datasets import send_dataset_records

        send_dataset_records(client, run_id, op["records"])
        return
    if kind == "log_batch":
        from mlflow.entities import Metric, Param, RunTag

        args = {"metrics": [Metric(*m) for m in op["metrics"]], "params": [Param(*p) for p in op["params"]],
                "tags": [RunTag(*t) for t in op["tags"]]}  # fmt: skip
    getattr(client, kind)(run_id, **args)


def describe(ops: list[dict]) -> str:
    metrics = sum(len(op.get("metrics", ())) for op in ops)
    other = sum(1 for op in ops if op["op"] != "log_batch")
    parts = [f"{metrics} metric values"] if metrics else []
    if other:
        parts.append(f"{other} other records (texts, artifacts, run status)")
    return " and ".join(parts) or f"{len(ops)} records"


# -- the spool file: a header line, then one operation per line


def header(tracking_uri: str) -> dict:
    return {"gptlab_mlflow_outbox": FORMAT, "tracking_uri": redact_uri(tracking_uri), "created": time.time()}


def read_file(path: Path) -> tuple[dict, list[dict]]:
    """Header and operations of a spool file; a line torn by a crash ends the list."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return {}, []
    ops = []
    for i, line in enumerate(lines[1:], start=2):
        try:
            ops.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: line %d is incomplete (the process was killed while writing it): skipped", path, i)
            break
    return json.loads(lines[0]), ops


def write_file(path: Path, head: dict, ops: list[dict]) -> None:
    from gptlab.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(x) + "\n" for x in (head, *ops)))


class Outbox:
    """The MLflow client's write methods a run uses (run id first); each returns at once."""

    def __init__(self, client: Any, tracking_uri: str, spool_dir: str | Path | None = None):
        self._client, self._uri = client, tracking_uri
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self.spool: Path | None = None  # the file, once something had to be kept
        self._ops: deque[dict] = deque()
        self._cond = threading.Condition()
        self.online, self.closed, self._sending = True, False, False
        self._tries, self._retry_s, self._next_try, self._reason = 0, RETRY_FIRST_S, 0.0, ""
        self.end_wait_s = 0.0
        self._thread = threading.Thread(target=self._run, name="gptlab-mlflow-outbox", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a run that ends without closing still keeps its writes

    def put(self, op: dict) -> None:
        """Queue one operation (see :func:`values_op`)."""
        with self._cond:
            self._ops.append(op)
            if self.closed:  # written after close (an exit path): kept for sync
                self._save()
            elif not self.online:
                self._append(op)
            self._cond.notify_all()

    def log_values(self, run_id: str, metrics: dict[str, float] | None = None, step: int = 0,
                   params: dict[str, Any] | None = None, timestamp_ms: int | None = None) -> None:  # fmt: skip
        """Metrics at ``step`` and params, as numbers and strings."""
        now = timestamp_ms or int(time.time() * 1000)
        metrics, params = metrics or {}, params or {}
        if metrics or params:
            self.put(values_op(run_id, [(k, v, now, step) for k, v in metrics.items()], params.items()))

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None) -> None:  # fmt: skip
        self.log_values(run_id, {key: value}, step or 0, timestamp_ms=timestamp)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.put(values_op(run_id, tags=[(key, value)]))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.put({"op": "log_text", "run_id": run_id, "text": text, "artifact_file": artifact_file})

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self.put({"op": "log_artifact", "run_id": run_id, "local_path": str(Path(local_path).resolve()),
                   "artifact_path": artifact_path})  # fmt: skip

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.put({"op": "log_artifacts", "run_id": run_id, "local_dir": str(Path(local_dir).resolve()),
                   "artifact_path": artifact_path})  # fmt: skip

    def log_datasets(self, run_id: str, records: list[dict]) -> None:
        """Dataset inputs, as :func:`gptlab.tracking.datasets.training_dataset_records` makes them."""
        if records:
            self.put({"op": "log_datasets", "run_id": run_id, "records": records})

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        self.put({"op": "set_terminated", "run_id": run_id, "status": status or "FINISHED",
                   "end_time": end_time or int(time.time() * 1000)})  # fmt: skip

    # -- the thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self.closed and (not self._ops or (not self.online and time.monotonic() < self._next_try)):
                    self._cond.wait(None if self.online or not self._ops else self._next_try - time.monotonic())
                if self.closed:
                    return
                op, n = merge_batches(list(itertools.islice(self._ops, MAX_ENTITIES)))
                self._sending = True
            try:
                send_op(self._client, op)
                error = None
            except Exception as exc:  # noqa: BLE001 - classified below; the thread must live on
                error = exc
            with self._cond:
                self._sending, self._tries = False, self._tries + 1
                if error is not None and is_outage(error):
                    self._gone(error)
                else:
                    for _ in range(n):
                        self._ops.popleft()
                    if error is not None:
                        log.warning("MLflow refused a %s for run %s and it was dropped: %s", op["op"], op["run_id"],
                                    first_line(error))  # fmt: skip
                    elif not self.online:
                        self.online, self._retry_s = True, RETRY_FIRST_S
                        log.warning("MLflow tracking server %s answers again: sending what was kept (%d operations)",
                                    redact_uri(self._uri), len(self._ops) + n)  # fmt: skip
                    if not self._ops and self.spool is not None:
                        with contextlib.suppress(OSError):
                            self.spool.unlink()
                        self.spool = None
                self._cond.notify_all()

    def _gone(self, error: BaseException) -> None:
        self._reason = first_line(error)
        if self.online:
            self.online = False
            self._save()
            log.warning(
                "MLflow tracking server %s is not answering (%s): training goes on; what is not sent is kept in %s "
                "and sent when the server is back", redact_uri(self._uri), self._reason, self.spool or "memory",
            )  # fmt: skip
        self._next_try = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)

    # -- the spool file (under the lock); a full disk must not stop training

    def _spool_path(self) -> Path | None:
        if self.spool is None and self._spool_dir is not None:
            run = next((op["run_id"] for op in self._ops), "run")
            self.spool = self._spool_dir / f"{run}-{os.getpid()}-{int(time.time())}.jsonl"
        return self.spool

    def _save(self) -> None:
        if (path := self._spool_path()) is not None:
            try:
                write_file(path, header(self._uri), list(self._ops))
            except Exception as exc:  # noqa: BLE001
                log.warning("cannot keep the unsent MLflow operations in %s: %s", path, exc)

    def _append(self, op: dict) -> None:
        if (path := self._spool_path()) is not None:
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(op) + "\n")
            except OSError as exc:
                log.warning("cannot keep the unsent MLflow operations in %s: %s", path, exc)

    # -- the end

    def close(self, wait_s: float | None = None) -> list[dict]:
        """Send what is queued while the store takes it (``wait_s`` bounds that wait too),
        or give an absent store one last try; stop; the operations left (kept in the file)."""
        if self.closed:
            return list(self._ops)
        t0 = time.monotonic()
        with self._cond:
            if not self.online and self._ops and not self._sending:
                self._next_try = 0.0  # one last try, now
                self._cond.notify_all()
            tries = self._tries
            while self._ops and self._thread.is_alive() and (self.online or self._sending or self._tries == tries):
                left = None if wait_s is None else t0 + wait_s - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            self.closed = True
            self._cond.notify_all()
            self.end_wait_s = time.monotonic() - t0
            left = list(self._ops)
            if left:
                self._save()
        atexit.unregister(self.close)
        if left:
            where = self.spool or "memory (no file could be written)"
            log.warning(
                "%s of MLflow run %s were not recorded (%s unreachable: %s; waited %.1f s for it at the end); they are "
                "kept in %s: send them when the server is back with: %s", describe(left), left[0]["run_id"],
                redact_uri(self._uri), self._reason or "no answer", self.end_wait_s, where, SYNC_COMMAND,
            )  # fmt: skip
        return left


# -- sending later: python -m gptlab.track


@dataclass
class SyncResult:
    sent: int
    files_done: list[Path]


def sync_files(paths: Iterable[str | Path], tracking_uri: str | None = None) -> SyncResult:
    """Send the operations kept in spool files (or directories of them), in order, to
    ``tracking_uri`` (default: the URI a file records, unless redacted); remove each file
    once sent. Stops at the first outage, keeping what is left."""
    from gptlab.errors import ConfigError, DataError

    sent, done = 0, []
    files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.jsonl")) if p.is_dir() else [p])]
    for path in files:
        if not path.is_file():
            raise DataError(f"no pending MLflow file at {path}")
        try:
            head, ops = read_file(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not a gptlab MLflow outbox file ({exc})") from None
        if head.get("gptlab_mlflow_outbox") != FORMAT:
            raise DataError(f"{path} is not a gptlab MLflow outbox file (format {head.get('gptlab_mlflow_outbox')!r})")
        uri = tracking_uri or head.get("tracking_uri", "")
        if "***@" in uri:
            raise ConfigError(f"{path} was recorded for {uri}: pass the URI with its credentials (tracking_uri=...)")
        store = TrackingStore(uri)
        store.check_usable()
        i = 0
        while i < len(ops):
            op, n = merge_batches(ops[i:])
            try:
                send_op(store.client, op)
            except Exception as exc:
                if is_outage(exc):
                    write_file(path, head, ops[i:])
                    raise ConfigError(
                        f"MLflow at {store.redacted} stopped answering ({first_line(exc)}): "
                        f"{describe(ops[i:])} are still kept in {path}; run the same command again later"
                    ) from None
                log.warning("MLflow refused a %s for run %s (%s): skipped", op["op"], op["run_id"], first_line(exc))
            i += n
            sent += n
        path.unlink()
        done.append(path)
        log.info("sent %s from %s to %s", describe(ops) if ops else "nothing", path, store.redacted)
    return SyncResult(sent=sent, files_done=done)
