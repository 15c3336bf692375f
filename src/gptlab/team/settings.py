"""Typed settings of the team stack: the top-level keys of ``conf/team.yaml``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gptlab.errors import ConfigError
from gptlab.runtime.servers import check_port, check_workers

PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")
# MLflow's login names are free text; these stay safe in shell lines and file names.
USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# S3's rules for a bucket name, the subset that every S3 server accepts.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
ADMIN = "admin"  # the stack's own MLflow login, which creates the teammates' logins


@dataclass(frozen=True)
class TeamConfig:
    """``conf/team.yaml`` owns the defaults (none here)."""

    dir: str  # everything the stack keeps; a relative path is anchored at the project root
    host: str  # every server binds this address only
    mlflow_port: int
    postgres_port: int
    s3_port: int
    mlflow_workers: int
    users: tuple[str, ...]  # the teammates' MLflow logins
    default_permission: str  # what a login may do with experiments and models others created
    artifacts_bucket: str
    dvc_bucket: str
    user: str  # whose login `env` prints
    start_timeout_s: float

    def __post_init__(self) -> None:
        for name in ("mlflow_port", "postgres_port", "s3_port"):
            check_port(name, getattr(self, name))
        if len({self.mlflow_port, self.postgres_port, self.s3_port}) < 3:
            raise ConfigError("mlflow_port, postgres_port and s3_port must differ")
        check_workers("mlflow_workers", self.mlflow_workers)
        if not self.users:
            raise ConfigError("users is empty: name at least one teammate's login")
        for user in self.users:
            if not USER_NAME.fullmatch(user) or user == ADMIN:
                raise ConfigError(
                    f"users: {user!r} is not a login name (lowercase letters, digits, _ and -, "
                    f"starting with a letter; not {ADMIN!r})"
                )
        if self.user not in self.users:
            raise ConfigError(f"user={self.user!r} is not one of users: {', '.join(self.users)}")
        if self.default_permission not in PERMISSIONS:
            raise ConfigError(
                f"default_permission must be one of {', '.join(PERMISSIONS)}, got {self.default_permission!r}"
            )
        for name in ("artifacts_bucket", "dvc_bucket"):
            bucket = getattr(self, name)
            if not BUCKET_NAME.fullmatch(bucket):
                raise ConfigError(f"{name}={bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, -)")
        if self.artifacts_bucket == self.dvc_bucket:
            raise ConfigError("artifacts_bucket and dvc_bucket must differ")
        if self.start_timeout_s <= 0:
            raise ConfigError(f"start_timeout_s must be positive, got {self.start_timeout_s}")

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def dvc_remote_url(self) -> str:
        return f"s3://{self.dvc_bucket}/gptlab"
