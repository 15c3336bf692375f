"""The stack's secrets: generated once, kept in ``<dir>/private/credentials.json`` (mode
0600 in a 0700 directory); the servers get them through their environment or 0600 files,
never a command line (which ``ps`` shows to every local user).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gptlab.errors import ConfigError
from gptlab.io import atomic_write_text

FILE = "credentials.json"


def new_secret() -> str:
    # Hex digits only: safe in URLs, ini files, shell lines; 48 of them, 192 bits.
    return secrets.token_hex(24)


@dataclass
class Credentials:
    postgres_password: str  # the cluster's superuser (postgres)
    mlflow_db_password: str  # the mlflow role, owner of the tracking and login databases
    s3_access_key: str
    s3_secret_key: str
    admin_password: str  # MLflow's admin login (creates the teammates' logins)
    flask_secret_key: str  # MLflow's web server signs its sessions with it
    users: dict[str, str] = field(default_factory=dict)  # teammate -> MLflow password

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            postgres_password=new_secret(),
            mlflow_db_password=new_secret(),
            s3_access_key="gptlab" + secrets.token_hex(7),
            s3_secret_key=new_secret(),
            admin_password=new_secret(),
            flask_secret_key=new_secret(),
        )

    def with_users(self, users: tuple[str, ...]) -> bool:
        """Give each of ``users`` a password if it has none; whether any was added."""
        added = [u for u in users if u not in self.users]
        for user in added:
            self.users[user] = new_secret()
        return bool(added)

    def secrets(self) -> list[str]:
        """Every secret value, to keep out of what is printed."""
        return [
            self.postgres_password, self.mlflow_db_password, self.s3_secret_key,
            self.admin_password, self.flask_secret_key, *self.users.values(),
        ]  # fmt: skip


def load(private: Path) -> Credentials | None:
    """The credentials kept in the directory ``private`` (None before the first start)."""
    path = private / FILE
    if not path.is_file():
        return None
    try:
        return Credentials(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); stop the stack and move its directory aside") from None


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (in a directory of mode 0700, so
    the moment it has the umask's mode nobody else can reach it)."""
    atomic_write_text(path, text)
    os.chmod(path, 0o600)


def save(private: Path, creds: Credentials) -> None:
    write_private(private / FILE, json.dumps(asdict(creds), indent=1) + "\n")


def load_or_create(private: Path, users: tuple[str, ...]) -> Credentials:
    """The kept credentials, a password added for each new teammate; new ones the first time."""
    creds = load(private)
    if creds is None:
        creds = Credentials.generate()
        creds.with_users(users)
        save(private, creds)
    elif creds.with_users(users):
        save(private, creds)
    return creds


def redact(text: str, creds: Credentials) -> str:
    """``text`` with every secret of ``creds`` replaced by ``***``."""
    for value in creds.secrets():
        if value:
            text = text.replace(value, "***")
    return text
