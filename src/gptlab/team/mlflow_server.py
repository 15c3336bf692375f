"""The tracking server: ``mlflow server --app-name basic-auth`` on PostgreSQL, its artifacts
proxied to the S3 bucket (clients need no S3 keys), with an admin login and one login
per teammate.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request

from gptlab.errors import ConfigError
from gptlab.runtime import servers
from gptlab.runtime.programs import child_env
from gptlab.team import postgres
from gptlab.team.credentials import Credentials, redact, write_private
from gptlab.team.layout import Layout
from gptlab.team.settings import ADMIN, TeamConfig

MARKER = "mlflow"
# What this process may have in its environment that must not reach the server.
CLIENT_ONLY = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
               "MLFLOW_TRACKING_TOKEN", "MLFLOW_REGISTRY_URI")  # fmt: skip


def auth_config(cfg: TeamConfig) -> str:
    """MLflow's basic-auth config: logins kept in PostgreSQL too, so several servers behind
    one database share them."""
    db = postgres.database_uri(cfg.host, cfg.postgres_port, postgres.AUTH_DB)
    return (
        "[mlflow]\n"
        f"default_permission = {cfg.default_permission}\n"
        f"database_uri = {db}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each request's password check is a PBKDF2 hash (tens of ms, seconds on a busy
        # machine): four parallel sweep jobs timed out without the cache. The price: a changed
        # password is seen by the other worker up to this many seconds later.
        "auth_cache_ttl_seconds = 60\n"
    )


def server_env(layout: Layout, cfg: TeamConfig, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if k not in CLIENT_ONLY}
    env.update(
        MLFLOW_BACKEND_STORE_URI=postgres.database_uri(cfg.host, cfg.postgres_port, postgres.TRACKING_DB),
        PGPASSWORD=creds.mlflow_db_password,
        PGCONNECT_TIMEOUT="10",
        MLFLOW_AUTH_CONFIG_PATH=str(layout.private / "mlflow-auth.ini"),
        MLFLOW_AUTH_ADMIN_PASSWORD=creds.admin_password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=creds.flask_secret_key,
        AWS_ACCESS_KEY_ID=creds.s3_access_key,
        AWS_SECRET_ACCESS_KEY=creds.s3_secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        MLFLOW_S3_ENDPOINT_URL=cfg.s3_endpoint,
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


def upgrade_schema(layout: Layout, cfg: TeamConfig, creds: Credentials) -> None:
    """``mlflow db upgrade``: makes the tables in a new database, migrates an old one. Run
    by ``start`` before the server (whose workers would otherwise race to migrate)."""
    import subprocess

    env = server_env(layout, cfg, creds)
    uri = env["MLFLOW_BACKEND_STORE_URI"]
    res = subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", uri], env=env,
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if res.returncode != 0:
        lines = redact(res.stderr or res.stdout, creds).strip().splitlines()
        raise ConfigError(f"mlflow db upgrade failed on {uri}: {lines[-1] if lines else 'no message'}")


def command(cfg: TeamConfig) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
        "--artifacts-destination", f"s3://{cfg.artifacts_bucket}/artifacts", "--serve-artifacts",
        "--host", cfg.host, "--port", str(cfg.mlflow_port), "--workers", str(cfg.mlflow_workers),
    ]  # fmt: skip


def start(layout: Layout, cfg: TeamConfig, creds: Credentials, pid: int | None) -> int:
    """The running server's pid (started if ``pid`` is not it), once ``/health`` answers."""
    log, what = layout.logs / "mlflow.log", f"the MLflow server on {cfg.tracking_uri}"
    server = servers.find(pid, MARKER, what, log)
    if server is None:
        servers.check_port_free(cfg.host, cfg.mlflow_port, "pass another mlflow_port=...")
        write_private(layout.private / "mlflow-auth.ini", auth_config(cfg))
        server = servers.start(command(cfg), server_env(layout, cfg, creds), what, log, layout.root)
    server.wait_started(lambda: servers.http_ok(f"{cfg.tracking_uri}/health"), cfg.start_timeout_s)
    return server.pid


def stop(pid: int | None) -> bool:
    server = servers.find(pid, MARKER)
    return server is not None and server.stop()


def _admin_request(cfg: TeamConfig, creds: Credentials, path: str, body: dict) -> tuple[int, str]:
    token = base64.b64encode(f"{ADMIN}:{creds.admin_password}".encode()).decode()
    req = urllib.request.Request(
        f"{cfg.tracking_uri}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - our own server
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def ensure_users(cfg: TeamConfig, creds: Credentials) -> None:
    """Each teammate's login, created by the admin if it does not exist yet."""
    for user in cfg.users:
        code, text = _admin_request(cfg, creds, "/api/2.0/mlflow/users/create",
                                    {"username": user, "password": creds.users[user]})  # fmt: skip
        if code == 200 or "RESOURCE_ALREADY_EXISTS" in text or "already exists" in text:
            continue
        raise ConfigError(
            f"the MLflow server refused to create the login {user!r} (HTTP {code}): {redact(text, creds)[:200]}"
        )
