"""The local team stack: PostgreSQL, an S3 server and an MLflow tracking server with logins.

``python -m gptlab.team start|stop|env|remote`` (docs/team.md). Everything binds the
configured host (127.0.0.1 by default) and keeps its data under one directory. Teammates
reach the runs and the model registry through the MLflow server (which also proxies the
artifacts, so they need no S3 keys), and the data and models through a DVC remote on the
S3 server. Nothing here is imported by the pipeline: the stages only see a tracking URI
and a login in the environment.
"""

from __future__ import annotations

from gptlab.team.settings import TeamConfig

__all__ = ["TeamConfig"]
