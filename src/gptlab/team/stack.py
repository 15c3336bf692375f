"""Start, stop and describe the whole stack: PostgreSQL, then the S3 server, then MLflow.

``start`` is safe to run again (a running server is kept); a failed start stops the stack
again, so it leaves nothing behind.
"""

from __future__ import annotations

import importlib.metadata
import shlex
from dataclasses import dataclass
from pathlib import Path

from gptlab.errors import ConfigError
from gptlab.runtime import servers
from gptlab.team import mlflow_server, postgres, s3
from gptlab.team.credentials import Credentials, load, load_or_create
from gptlab.team.layout import Layout
from gptlab.team.settings import TeamConfig

DVC_REMOTE = "team"


def layout_of(cfg: TeamConfig) -> Layout:
    """The stack's directory: ``dir``, a relative one anchored at the project root."""
    from gptlab.tracking.uri import project_root

    root = Path(cfg.dir).expanduser()
    return Layout((root if root.is_absolute() else project_root() / root).resolve())


@dataclass(frozen=True)
class Stack:
    """A started stack: where it is and how to reach it."""

    cfg: TeamConfig
    layout: Layout
    creds: Credentials

    def env(self, user: str) -> dict[str, str]:
        """What a teammate's shell needs for the pipeline to log to the server as ``user``."""
        if user not in self.creds.users:
            raise ConfigError(f"user={user!r} has no login on this stack (logins: {', '.join(self.creds.users)})")
        return {
            "MLFLOW_TRACKING_URI": self.cfg.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": user,
            "MLFLOW_TRACKING_PASSWORD": self.creds.users[user],
        }


def _inner_ports(cfg: TeamConfig, state: dict) -> dict[str, int]:
    kept = state.get("s3_inner_ports") or {}
    if set(kept) == set(s3.INNER_PORTS):
        return {name: int(kept[name]) for name in s3.INNER_PORTS}
    taken = {cfg.mlflow_port, cfg.postgres_port, cfg.s3_port}
    ports: dict[str, int] = {}
    while len(ports) < len(s3.INNER_PORTS):
        port = servers.free_port(cfg.host)
        if port not in taken:
            taken.add(port)
            ports[s3.INNER_PORTS[len(ports)]] = port
    return ports


def start(cfg: TeamConfig) -> Stack:
    layout = layout_of(cfg)
    layout.make()
    creds = load_or_create(layout.private, cfg.users)
    state = layout.read_state()
    state["s3_inner_ports"] = _inner_ports(cfg, state)
    layout.write_state(state)
    try:
        postgres.init_cluster(layout, creds)
        postgres.start(layout, cfg.host, cfg.postgres_port, cfg.start_timeout_s)
        postgres.create_databases(cfg.host, cfg.postgres_port, creds)
        state["s3_pid"] = s3.start(layout, cfg.host, cfg.s3_port, state["s3_inner_ports"], creds,
                                   [cfg.artifacts_bucket, cfg.dvc_bucket], state.get("s3_pid"),
                                   cfg.start_timeout_s)  # fmt: skip
        layout.write_state(state)
        version = importlib.metadata.version("mlflow")
        if state.get("schema_upgraded_by_mlflow") != version:  # a new database, or a new MLflow
            mlflow_server.upgrade_schema(layout, cfg, creds)
            state["schema_upgraded_by_mlflow"] = version
        state["mlflow_pid"] = mlflow_server.start(layout, cfg, creds, state.get("mlflow_pid"))
        layout.write_state(state)
        mlflow_server.ensure_users(cfg, creds)
    except BaseException:
        stop(cfg)
        raise
    return Stack(cfg, layout, creds)


def stop(cfg: TeamConfig) -> list[str]:
    """Stop every server of the stack (MLflow first, PostgreSQL last); what was running."""
    layout = layout_of(cfg)
    state = layout.read_state()
    stopped = []
    if mlflow_server.stop(state.get("mlflow_pid")):
        stopped.append("MLflow")
    if s3.stop(state.get("s3_pid")):
        stopped.append("S3")
    if postgres.stop(layout):
        stopped.append("PostgreSQL")
    if layout.state_file.is_file():
        state.pop("mlflow_pid", None)
        state.pop("s3_pid", None)
        layout.write_state(state)
    return stopped


def existing(cfg: TeamConfig) -> Stack:
    """The stack as started before (its credentials), for ``env`` and ``remote``."""
    layout = layout_of(cfg)
    creds = load(layout.private)
    if creds is None:
        raise ConfigError(f"no team stack in {layout.root}: start it first (python -m gptlab.team start)")
    return Stack(cfg, layout, creds)


def shell_exports(env: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def configure_dvc_remote(stack: Stack, repo: Path) -> None:
    """The DVC remote ``team`` on the stack's bucket, the default one: its URL and endpoint
    in ``.dvc/config`` (committed, shared), its keys in ``.dvc/config.local`` (never committed)."""
    from dvc.config import Config

    dvc_dir = repo / ".dvc"
    if not dvc_dir.is_dir():
        raise ConfigError(f"{repo} is not a DVC repository (no .dvc/): run this in a clone of the project")
    config = Config(dvc_dir=str(dvc_dir))
    with config.edit("repo") as conf:
        conf["remote"][DVC_REMOTE] = {"url": stack.cfg.dvc_remote_url, "endpointurl": stack.cfg.s3_endpoint}
        conf["core"]["remote"] = DVC_REMOTE
    with config.edit("local") as conf:
        conf["remote"][DVC_REMOTE] = {
            "access_key_id": stack.creds.s3_access_key,
            "secret_access_key": stack.creds.s3_secret_key,
        }
