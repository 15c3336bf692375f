"""The local team stack: PostgreSQL, an S3 server and an MLflow tracking server with logins
(docs/team.md). The pipeline imports none of it: its stages only see a tracking URI and a
login in the environment.
"""

from __future__ import annotations

from gptlab.team.settings import TeamConfig

__all__ = ["TeamConfig"]
