"""The team stack for the slow team tests: started once per session (PostgreSQL, S3, MLflow
with logins, on free 127.0.0.1 ports), stopped in the teardown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gptlab.team.mlflow_server import CLIENT_ONLY

START_TIMEOUT_S = 300  # three servers and a schema migration: ~20 s idle, minutes on a busy 2-core runner


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class TeamStack:
    root: Path  # the stack's dir=
    overrides: tuple[str, ...]  # what `python -m gptlab.team ACTION` needs to find it
    base_env: dict[str, str]  # the CLI environment without any MLflow login

    def config(self):
        from gptlab.team.__main__ import compose_team, settings

        return settings(compose_team(list(self.overrides)))

    def creds(self):
        from gptlab.team.credentials import load

        return load(self.root / "private")

    @property
    def uri(self) -> str:
        return self.config().tracking_uri

    def env(self, user: str | None = "alice", password: str | None = None) -> dict[str, str]:
        """The CLI environment of teammate ``user`` (None: no login at all)."""
        env = dict(self.base_env, MLFLOW_TRACKING_URI=self.uri)
        if user is not None:
            env["MLFLOW_TRACKING_USERNAME"] = user
            env["MLFLOW_TRACKING_PASSWORD"] = password if password is not None else self.creds().users[user]
        return env

    def team(self, action: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
        return subprocess.run([sys.executable, "-m", "gptlab.team", action, *self.overrides, *args],
                              cwd=cwd, env=env or self.base_env, capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="session")
def team_stack(subprocess_env) -> TeamStack:
    from gptlab.team.postgres import program

    try:
        program("initdb")
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: .ci/run installs it
        pytest.skip(str(exc))
    # Not under pytest's own temporary directory: it is mode 0700, and as root PostgreSQL runs
    # as its own user, which must pass through every directory above its cluster.
    root = Path(tempfile.mkdtemp(prefix="gptlab-team-"))
    os.chmod(root, 0o711)
    mlflow_port, postgres_port, s3_port = free_ports(3)
    overrides = (f"dir={root / 'stack'}", f"mlflow_port={mlflow_port}", f"postgres_port={postgres_port}",
                 f"s3_port={s3_port}")  # fmt: skip
    base_env = {k: v for k, v in subprocess_env.items() if k not in CLIENT_ONLY}
    stack = TeamStack(root / "stack", overrides, base_env)
    try:
        res = stack.team("start", timeout=START_TIMEOUT_S)
        logs = "".join(f"\n--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in (stack.root / "logs").glob("*.log"))
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:] + logs
        yield stack
    finally:
        res = stack.team("stop", timeout=120)
        shutil.rmtree(root, ignore_errors=True)
        assert res.returncode == 0, res.stderr[-3000:]


@pytest.fixture
def mlflow_as(team_stack, monkeypatch):
    """An ``MlflowClient`` on the stack as teammate ``user`` (this process's environment)."""

    def client(user: str = "alice"):
        from mlflow.tracking import MlflowClient

        for name, value in team_stack.env(user).items():
            if name.startswith("MLFLOW_"):
                monkeypatch.setenv(name, value)
        return MlflowClient(team_stack.uri)

    return client
