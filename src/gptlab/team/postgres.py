"""A private PostgreSQL cluster for the tracking server: ``initdb`` once, ``pg_ctl`` to start
and stop, one role and two databases. PostgreSQL refuses to run as root, so as root its
programs run as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Sequence

from gptlab.errors import ConfigError, MissingProgramError
from gptlab.runtime.servers import check_port_free
from gptlab.team.credentials import Credentials
from gptlab.team.layout import Layout, check_reachable_by_others

SERVICE_USER = "postgres"
ROLE = "mlflow"  # owns both databases; the tracking server logs in as it
TRACKING_DB = "mlflow"
AUTH_DB = "mlflow_auth"
INSTALL = "install PostgreSQL (Debian: apt-get install postgresql)"


def program(name: str) -> str:
    """``initdb``/``pg_ctl``: on PATH, else Debian's versioned directory (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    raise MissingProgramError(f"PostgreSQL's {name} is not installed (not on PATH nor in /usr/lib/postgresql); {INSTALL}")


def as_service_user(cmd: Sequence[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` user when this process is root; as is otherwise."""
    if os.geteuid() != 0:
        return list(cmd)
    return ["runuser", "-u", SERVICE_USER, "--", *cmd]


def ensure_service_user(layout: Layout) -> None:
    """As root: the ``postgres`` user exists, owns the cluster's directory and can reach it."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER], "useradd")
    check_reachable_by_others(layout.root, f"PostgreSQL's user {SERVICE_USER!r}")
    layout.postgres.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(layout.postgres, SERVICE_USER, SERVICE_USER)


def run(cmd: Sequence[str], what: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> None:
    res = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise ConfigError(f"{what} failed (exit {res.returncode}): {detail[-1] if detail else 'no message'}")


def init_cluster(layout: Layout, creds: Credentials) -> bool:
    """``initdb`` once (superuser password from a file of the cluster's own directory,
    removed after); whether it ran."""
    if (layout.postgres_data / "PG_VERSION").is_file():
        return False
    ensure_service_user(layout)
    layout.postgres.mkdir(mode=0o700, exist_ok=True)
    pwfile = layout.postgres / "pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(creds.postgres_password + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, SERVICE_USER, SERVICE_USER)
    try:
        run(
            as_service_user([
                program("initdb"), "-D", str(layout.postgres_data), "-U", SERVICE_USER,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
            ]),
            "initdb",
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    return True


def running(layout: Layout) -> bool:
    res = subprocess.run(
        as_service_user([program("pg_ctl"), "-D", str(layout.postgres_data), "status"]),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return res.returncode == 0


def start(layout: Layout, host: str, port: int, timeout_s: float) -> None:
    """``pg_ctl start``, waiting (bounded) until it accepts connections."""
    if running(layout):
        return
    check_port_free(host, port, "pass another postgres_port=...")
    ensure_service_user(layout)
    options = f"-c listen_addresses={host} -p {port} -c unix_socket_directories=''"
    run(
        as_service_user([
            program("pg_ctl"), "-D", str(layout.postgres_data), "-l", str(layout.postgres_log),
            "-w", "-t", str(int(timeout_s)), "-o", options, "start",
        ]),
        f"starting PostgreSQL on {host}:{port} (its log: {layout.postgres_log})",
        timeout_s=timeout_s + 10,
    )  # fmt: skip


def stop(layout: Layout, timeout_s: float = 30) -> bool:
    """``pg_ctl stop -m fast`` (sessions are ended, nothing is lost); whether it was running."""
    if not (layout.postgres_data / "PG_VERSION").is_file() or not running(layout):
        return False
    run(
        as_service_user([program("pg_ctl"), "-D", str(layout.postgres_data), "-m", "fast", "-w",
                         "-t", str(int(timeout_s)), "stop"]),
        "stopping PostgreSQL", timeout_s=timeout_s + 10,
    )  # fmt: skip
    return True


def create_databases(host: str, port: int, creds: Credentials) -> None:
    """The ``mlflow`` role and its two databases, if missing (as the superuser)."""
    import psycopg
    from psycopg import sql

    conninfo = {"host": host, "port": port, "user": SERVICE_USER, "password": creds.postgres_password,
                "dbname": "postgres", "connect_timeout": 10}  # fmt: skip
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(creds.mlflow_db_password)))  # fmt: skip
        for db in (TRACKING_DB, AUTH_DB):
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(ROLE)))


def database_uri(host: str, port: int, db: str) -> str:
    """SQLAlchemy's URI of ``db`` without a password (libpq reads ``PGPASSWORD``), for
    psycopg 3: SQLAlchemy 2.1 maps a bare ``postgresql://`` to it as well."""
    return f"postgresql+psycopg://{ROLE}@{host}:{port}/{db}"
