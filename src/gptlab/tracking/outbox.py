"""What a training run sends to MLflow, sent in order by one background thread.

Training never waits on the tracking server. Every write (metrics, params, tags, texts,
artifacts, the run's end, the MLflow model) becomes an *operation* in an ordered outbox;
a daemon thread sends them. When a send fails because the server is away (connection
refused, timeout, 5xx), the outbox

* warns once, keeps the operation and everything after it, and appends them to a local
  file, ``<project>/.cache/gptlab/mlflow-outbox/<run>.jsonl``, so that nothing is lost even if
  the process is killed;
* retries every few seconds (2 s, doubling up to 15 s); when the server answers again,
  it sends the backlog in order and logging carries on (the file is removed once empty).

At the end, :meth:`Outbox.close` waits while the server is taking operations (every
request is bounded: ``MLFLOW_HTTP_REQUEST_TIMEOUT`` 5 s, one retry), gives an absent
server one last try, and keeps what is left in the file, with one line saying how to
send it later: ``python -m gptlab.track sync`` (:func:`sync_files`). Whatever the
outage, the wait at the end stays under :data:`WORST_END_WAIT_S`.

An operation the server *refuses* (a bad value, a run that does not exist) is dropped
with a warning, as MLflow's own async logging does; the MLflow model step is the
exception: its failure is raised at :meth:`Outbox.close`, with its traceback.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gptlab.tracking.uri import redact_uri

log = logging.getLogger(__name__)

FORMAT = 1
OUTBOX_DIR = Path(".cache") / "gptlab" / "mlflow-outbox"
SYNC_COMMAND = "python -m gptlab.track sync"

# Bounded HTTP for the process that trains (a user's own setting wins): MLflow's
# defaults (120 s timeout, 7 retries with exponential back-off) stall for minutes.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
RETRY_FIRST_S = 2.0
RETRY_MAX_S = 15.0
# A request can take (1 + retries) * timeout when the server accepts connections but never
# answers: the end of a run waits for at most one such request in flight plus one last try.
WORST_END_WAIT_S = 2 * 2 * 5.0 + 1.0

# The largest batch sent in one request (MLflow's limits for one log-batch call).
_MAX_ENTITIES = 1000
_MAX_PARAMS_OR_TAGS = 100
# MLflow error codes that mean "this request will never succeed": drop, do not retry.
_REFUSED = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
            "INVALID_STATE", "ENDPOINT_NOT_FOUND"}  # fmt: skip


def limit_http_waits() -> None:
    """Bound every MLflow HTTP request of this process (unless the user set the variables)."""
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)


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


# -- operations: plain JSON, so that they can wait in a file ------------------------------


def batch_op(run_id: str, metrics: Iterable = (), params: Iterable = (), tags: Iterable = ()) -> dict:
    return {
        "op": "log_batch",
        "run_id": run_id,
        "metrics": [[m.key, float(m.value), int(m.timestamp), int(m.step or 0)] for m in metrics],
        "params": [[p.key, str(p.value)] for p in params],
        "tags": [[t.key, str(t.value)] for t in tags],
    }


def _size(op: dict) -> tuple[int, int, int]:
    return len(op["metrics"]) + len(op["params"]) + len(op["tags"]), len(op["params"]), len(op["tags"])


def merge_batches(ops: list[dict]) -> tuple[dict, int]:
    """The first op, with as many following log-batch ops of the same run merged in as one
    request allows; (the op to send, how many queued ops it covers)."""
    first = ops[0]
    if first["op"] != "log_batch":
        return first, 1
    merged = {**first, "metrics": list(first["metrics"]), "params": list(first["params"]), "tags": list(first["tags"])}
    n = 1
    for op in ops[1:]:
        if op["op"] != "log_batch" or op["run_id"] != first["run_id"]:
            break
        total, params, tags = (a + b for a, b in zip(_size(merged), _size(op), strict=True))
        if total > _MAX_ENTITIES or params > _MAX_PARAMS_OR_TAGS or tags > _MAX_PARAMS_OR_TAGS:
            break
        for key in ("metrics", "params", "tags"):
            merged[key].extend(op[key])
        n += 1
    return merged, n


def send_op(client: Any, op: dict, tracking_uri: str) -> None:
    """Carry out one operation on ``client`` (an ``MlflowClient`` on ``tracking_uri``)."""
    kind, run_id = op["op"], op["run_id"]
    if kind == "log_batch":
        from mlflow.entities import Metric, Param, RunTag

        client.log_batch(
            run_id,
            metrics=[Metric(k, v, t, s) for k, v, t, s in op["metrics"]],
            params=[Param(k, v) for k, v in op["params"]],
            tags=[RunTag(k, v) for k, v in op["tags"]],
        )
    elif kind == "log_text":
        client.log_text(run_id, op["text"], op["artifact_file"])
    elif kind == "log_artifact":
        client.log_artifact(run_id, op["local_path"], op.get("artifact_path"))
    elif kind == "log_artifacts":
        client.log_artifacts(run_id, op["local_dir"], op.get("artifact_path"))
    elif kind == "set_terminated":
        client.set_terminated(run_id, op["status"], op.get("end_time"))
    elif kind == "publish_model":
        from gptlab.serving.log_model import publish_model
        from gptlab.tracking.config import LoggerConfig

        publish_model(LoggerConfig(**{**op["logger"], "tracking_uri": tracking_uri}), run_id, op["model_dir"])
    else:
        raise ValueError(f"unknown MLflow outbox operation {kind!r}")


def publish_op(logger_cfg: Any, run_id: str, model_dir: str | Path) -> dict:
    """The MLflow model step (``gptlab.serving.log_model.publish_model``) as an operation."""
    settings = {k: v for k, v in asdict(logger_cfg).items() if k != "tracking_uri"}  # no credentials on disk
    return {"op": "publish_model", "run_id": run_id, "model_dir": str(Path(model_dir).resolve()), "logger": settings,
            "must_succeed": True}  # fmt: skip


def describe(ops: list[dict]) -> str:
    metrics = sum(len(op.get("metrics", ())) for op in ops)
    other = sum(1 for op in ops if op["op"] != "log_batch")
    parts = [f"{metrics} metric values"] if metrics else []
    if other:
        parts.append(f"{other} other records (artifacts, run status, model)")
    return " and ".join(parts) or f"{len(ops)} records"


# -- the pending file -------------------------------------------------------------------


def header(tracking_uri: str) -> dict:
    return {"gptlab_mlflow_outbox": FORMAT, "tracking_uri": redact_uri(tracking_uri), "created": time.time()}


def read_file(path: Path) -> tuple[dict, list[dict]]:
    """Header and operations of a pending file; a line torn by a crash ends the list."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return {}, []
    head = json.loads(lines[0])
    ops = []
    for i, line in enumerate(lines[1:], start=2):
        try:
            ops.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: line %d is incomplete (the process was killed while writing it): skipped", path, i)
            break
    return head, ops


def write_file(path: Path, head: dict, ops: list[dict]) -> None:
    from gptlab.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(x) + "\n" for x in (head, *ops)))


@dataclass
class _State:
    online: bool = True
    sending: bool = False
    attempts: int = 0
    closed: bool = False
    retry_s: float = RETRY_FIRST_S
    next_try: float = 0.0
    reason: str = ""


class Outbox:
    """An ordered queue of MLflow operations and the daemon thread that sends them."""

    def __init__(self, client: Any, tracking_uri: str, spool_dir: str | Path | None = None):
        self._client = client
        self._uri = tracking_uri
        self._ops: deque[dict] = deque()
        self._cond = threading.Condition()
        self._s = _State(retry_s=RETRY_FIRST_S)
        self._error: BaseException | None = None
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._spool: Path | None = None
        self.sent = 0
        self.end_wait_s = 0.0
        self._thread = threading.Thread(target=self._run, name="gptlab-mlflow-outbox", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def online(self) -> bool:
        return self._s.online

    @property
    def pending_file(self) -> Path | None:
        return self._spool

    def put(self, op: dict) -> None:
        with self._cond:
            if self._s.closed:  # after close (an exit path logging once more): keep it for sync
                self._ops.append(op)
                self._write_pending()
                return
            self._ops.append(op)
            if not self._s.online:
                self._append_pending(op)
            self._cond.notify_all()

    # -- the sender thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._s.closed and (not self._ops or (not self._s.online and time.monotonic() < self._s.next_try)):
                    timeout = None if self._s.online or not self._ops else max(0.0, self._s.next_try - time.monotonic())
                    self._cond.wait(timeout)
                if self._s.closed:
                    return
                op, n = merge_batches(list(itertools.islice(self._ops, 2000)))
                self._s.sending = True
            error = None
            try:
                send_op(self._client, op, self._uri)
            except Exception as exc:  # noqa: BLE001 - classified below; the thread must live on
                error = exc
            with self._cond:
                self._s.sending = False
                self._s.attempts += 1
                if error is None or not is_outage(error):
                    for _ in range(n):
                        self._ops.popleft()
                    if error is None:
                        self.sent += n
                        self._back_online()
                    else:
                        self._refused(op, error)
                else:
                    self._gone(error)
                self._cond.notify_all()

    def _back_online(self) -> None:
        if not self._s.online:
            self._s.online = True
            self._s.retry_s = RETRY_FIRST_S
            log.warning("MLflow tracking server %s answers again: sending what was kept (%d operations)",
                        redact_uri(self._uri), len(self._ops))  # fmt: skip
        if not self._ops and self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.unlink()
            self._spool = None

    def _refused(self, op: dict, error: BaseException) -> None:
        if op.get("must_succeed"):
            self._error = error
        else:
            log.warning("MLflow refused a %s for run %s and it was dropped: %s", op["op"], op["run_id"],
                        str(error).splitlines()[0] if str(error) else type(error).__name__)  # fmt: skip

    def _gone(self, error: BaseException) -> None:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        self._s.reason = reason
        if self._s.online:
            self._write_pending()
            self._s.online = False
            log.warning(
                "MLflow tracking server %s is not answering (%s): training goes on; what is not sent is kept in %s "
                "and sent when the server is back", redact_uri(self._uri), _short(reason), self._spool or "memory",
            )  # fmt: skip
        self._s.next_try = time.monotonic() + self._s.retry_s
        self._s.retry_s = min(self._s.retry_s * 2, RETRY_MAX_S)

    # -- the pending file, under the lock

    def _pending_path(self) -> Path | None:
        if self._spool is None and self._spool_dir is not None:
            run = next((op["run_id"] for op in self._ops), "run")
            self._spool = self._spool_dir / f"{run}-{os.getpid()}-{int(time.time())}.jsonl"
        return self._spool

    def _write_pending(self) -> None:
        path = self._pending_path()
        if path is None:
            return
        try:
            write_file(path, header(self._uri), list(self._ops))
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop training
            log.warning("cannot keep the unsent MLflow operations in %s: %s", path, exc)

    def _append_pending(self, op: dict) -> None:
        path = self._pending_path()
        if path is None:
            return
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(op) + "\n")
        except OSError as exc:
            log.warning("cannot keep the unsent MLflow operations in %s: %s", path, exc)

    # -- the end

    def flush(self, wait_s: float | None = None) -> bool:
        """Wait while the server takes operations; True once all are sent.

        Returns early (False) when the server is away, after one last try; an operation
        in flight is waited for (each request is bounded by the HTTP limits).
        ``wait_s`` bounds the whole wait (None: only progress bounds it).
        """
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self._cond:
            if not self._s.online and self._ops and not self._s.sending:
                self._s.next_try = 0.0  # one last try, now
                self._cond.notify_all()
            tried = self._s.attempts
            while self._ops and not self._s.closed and self._thread.is_alive():
                if not self._s.online and self._s.attempts > tried and not self._s.sending:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left if left is not None else 1.0)
            return not self._ops

    def close(self, wait_s: float | None = None) -> list[dict]:
        """Flush (bounded), stop the thread, keep what is left; the operations left.

        Raises the failure of an operation that must succeed (the MLflow model step).
        """
        if self._s.closed:
            return list(self._ops)
        t0 = time.monotonic()
        self.flush(wait_s)
        self.end_wait_s = time.monotonic() - t0
        with self._cond:
            self._s.closed = True
            self._cond.notify_all()
            left = list(self._ops)
            if left:
                self._write_pending()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if left:
            where = self._spool or "memory (no file could be written)"
            log.warning(
                "%s of MLflow run %s were not recorded (%s unreachable: %s; waited %.1f s for it at the end); they are "
                "kept in %s: send them when the server is back with: %s %s", describe(left), left[0]["run_id"],
                redact_uri(self._uri), _short(self._s.reason), self.end_wait_s, where, SYNC_COMMAND, where,
            )  # fmt: skip
        elif self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.unlink()
        if self._error is not None:
            raise self._error
        return left


def _short(reason: str, limit: int = 160) -> str:
    # MLflow's messages repeat the URL and urllib3's pool: keep the part that says why.
    for marker in ("Caused by ", "failed with exception "):
        if marker in reason:
            reason = reason.split(marker, 1)[1]
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


# -- sending later: python -m gptlab.track sync ----------------------------------------


@dataclass
class SyncResult:
    sent: int
    files_done: list[Path]


def pending_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    return out


def sync_files(paths: Iterable[str | Path], tracking_uri: str | None = None) -> SyncResult:
    """Send the operations kept in pending files, in order; remove each file once sent.

    ``tracking_uri``: where to send (default: the URI the file records, unless its
    credentials were redacted). Stops at the first outage, keeping what is left.
    """
    from mlflow.tracking import MlflowClient

    from gptlab.errors import ConfigError, DataError
    from gptlab.tracking.store import check_tracking_uri

    limit_http_waits()
    files = pending_files(paths)
    sent = 0
    done: list[Path] = []
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
            raise ConfigError(f"{path} was recorded for {uri}: pass the URI with its credentials (--tracking-uri)")
        check_tracking_uri(uri)
        client = MlflowClient(uri)
        i = 0
        while i < len(ops):
            op, n = merge_batches(ops[i:])
            try:
                send_op(client, op, uri)
            except Exception as exc:
                if is_outage(exc):
                    write_file(path, head, ops[i:])
                    raise ConfigError(
                        f"MLflow at {redact_uri(uri)} stopped answering ({_short(str(exc).splitlines()[0])}): "
                        f"{describe(ops[i:])} are still kept in {path}; run the same command again later"
                    ) from None
                if op.get("must_succeed"):
                    write_file(path, head, ops[i:])
                    raise
                log.warning("MLflow refused a %s for run %s (%s): skipped", op["op"], op["run_id"],
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)  # fmt: skip
            i += n
            sent += n
        path.unlink()
        done.append(path)
        log.info("sent %s from %s to %s", describe(ops) if ops else "nothing", path, redact_uri(uri))
    return SyncResult(sent=sent, files_done=done)
